"""The login allowance and the taken-name allowance hold against parallel bursts, through real
auth processes over real sockets, straight to auth's port and through the gateway."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from lab.isolated import isolated_env
from lab.processes import Stack
from tests.e2e.client import PASSWORD, client, fresh
from tests.e2e.conftest import StackFactory
from tests.support import create_pg_database, drop_pg_database, require_postgres

WRONG = "not the password"
ALLOWANCE = 5  # LAB_LOGIN_ACCOUNT_ALLOWANCE's default
TAKEN_ALLOWANCE = 3
BURST = 30
# Cheap hashes (the tests are about counting, not hashing); every failure here comes from
# 127.0.0.1, so the address bucket is set out of the way of the account buckets under test.
ENV = {
    "LAB_ARGON2_TIME_COST": "1",
    "LAB_ARGON2_MEMORY_KIB": "64",
    "LAB_ARGON2_PARALLELISM": "1",
    "LAB_LOGIN_ADDRESS_ALLOWANCE": "10000",
    "LAB_REGISTER_TAKEN_ALLOWANCE": str(TAKEN_ALLOWANCE),
}
ROUTES = ["auth", "gateway"]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """One lazy stack for the login tests (each uses an account of its own)."""
    stack = Stack(env=isolated_env(tmp_path_factory.mktemp("throttle") / "state", 1, **ENV))
    try:
        stack.up()
        yield stack
    finally:
        stack.down()


def _base(stack: Stack, route: str) -> str:
    """Where auth's routes are: its own port, or the gateway's /auth."""
    if route == "auth":
        return stack.settings.auth_url
    return f"http://127.0.0.1:{stack.settings.lab_gateway_port}/auth"


async def _burst(urls: list[str], bodies: list[dict[str, str]]) -> list[httpx.Response]:
    """POST every body at once (body k to urls[k % len(urls)]), each on its own connection."""
    limits = httpx.Limits(max_connections=len(bodies), max_keepalive_connections=0)
    async with httpx.AsyncClient(limits=limits, timeout=60) as client:
        return await asyncio.gather(
            *(client.post(urls[k % len(urls)], json=b) for k, b in enumerate(bodies))
        )


def _codes(replies: list[httpx.Response]) -> Counter[int]:
    for reply in replies:
        if reply.status_code == 429:
            assert reply.json() == {"success": False, "error": "too_many_attempts"}
            assert int(reply.headers["Retry-After"]) >= 1
    return Counter(reply.status_code for reply in replies)


def _login(stack: Stack, route: str, name: str, password: str) -> int:
    body = {"username": name, "password": password}
    return httpx.post(f"{_base(stack, route)}/login", json=body, timeout=30).status_code


def _new_user(stack: Stack) -> str:
    name = fresh()
    assert client(stack).register(name, PASSWORD).status == 201
    return name


@pytest.mark.parametrize("route", ROUTES)
def test_parallel_wrong_guesses_get_the_allowance_and_one_more(stack: Stack, route: str) -> None:
    name = _new_user(stack)
    guess = {"username": name, "password": WRONG}
    codes = _codes(asyncio.run(_burst([f"{_base(stack, route)}/login"], [guess] * BURST)))
    assert set(codes) <= {401, 429}
    assert ALLOWANCE <= codes[401] <= ALLOWANCE + 1, codes


@pytest.mark.parametrize("route", ROUTES)
def test_a_right_password_in_a_burst_logs_in_only_if_it_was_admitted(
    stack: Stack, route: str
) -> None:
    name = _new_user(stack)
    bodies = [{"username": name, "password": WRONG} for _ in range(BURST)]
    bodies[BURST // 2]["password"] = PASSWORD
    replies = asyncio.run(_burst([f"{_base(stack, route)}/login"], bodies))
    codes = _codes(replies)
    right = replies[BURST // 2].status_code
    assert right in {200, 429}  # never 401: a refused attempt is not checked at all
    wrong = codes[401]
    if right == 429:
        assert wrong <= ALLOWANCE + 1, codes
    else:  # admitted, and its success cleared the account here: at most a second allowance
        assert wrong <= 2 * (ALLOWANCE + 1), codes


@pytest.mark.parametrize("route", ROUTES)
def test_a_success_clears_the_account_at_the_address(stack: Stack, route: str) -> None:
    name = _new_user(stack)
    for _ in range(ALLOWANCE):
        assert _login(stack, route, name, WRONG) == 401
    # The next attempt blocks the account here until it succeeds: right passwords arriving
    # meanwhile are refused, not checked.
    right = {"username": name, "password": PASSWORD}
    codes = _codes(asyncio.run(_burst([f"{_base(stack, route)}/login"], [right] * 10)))
    assert set(codes) <= {200, 429} and codes[200] >= 1, codes
    # Cleared: a whole allowance again, the attempt that blocks, then a wait.
    after = [_login(stack, route, name, WRONG) for _ in range(ALLOWANCE + 2)]
    assert after == [401] * (ALLOWANCE + 1) + [429]


@pytest.mark.parametrize("route", ROUTES)
def test_parallel_taken_names_get_the_allowance_and_one_more(
    stack_factory: StackFactory, route: str
) -> None:
    stack = stack_factory(**ENV)  # a taken-name count of its own
    name = _new_user(stack)
    body = {"username": name.upper(), "password": PASSWORD}
    codes = _codes(asyncio.run(_burst([f"{_base(stack, route)}/register"], [body] * BURST)))
    assert set(codes) <= {409, 429}
    assert TAKEN_ALLOWANCE <= codes[409] <= TAKEN_ALLOWANCE + 1, codes


@pytest.fixture
def replicated(tmp_path: Path) -> Iterator[Stack]:
    """Two auth processes on one PostgreSQL database."""
    require_postgres()
    database = f"lab_test_{uuid.uuid4().hex[:10]}_auth"
    url = create_pg_database(database)
    extra = {"LAB_AUTH_REPLICAS": "2", "AUTH_DATABASE_URL": url, **ENV}
    env = isolated_env(tmp_path / "state", 1, **extra)
    stack = Stack(env=env)
    try:
        stack.up()
        yield stack
    finally:
        stack.down()
        drop_pg_database(database)


def test_two_auth_processes_hold_one_allowance(replicated: Stack) -> None:
    name = _new_user(replicated)
    urls = [f"http://127.0.0.1:{replicated.spec(a).port}/login" for a in ("auth", "auth-2")]
    guess = {"username": name, "password": WRONG}
    codes = _codes(asyncio.run(_burst(urls, [guess] * BURST)))
    assert set(codes) <= {401, 429}
    assert ALLOWANCE <= codes[401] <= ALLOWANCE + 1, codes
