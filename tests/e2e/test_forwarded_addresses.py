"""Whose address a failed login counts against, through real processes: a client choosing its
X-Forwarded-For earns no extra guesses, through the gateway or straight to auth; the gateway's
proof is believed once, for its own request; a proxy named in LAB_TRUSTED_PROXIES is believed."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import select

from auth.throttle import buckets, failures_table
from common.db import make_engine
from common.forwarded import PROOF_HEADER, sign_proof
from lab.processes import Stack
from tests.e2e.client import client
from tests.support import stack_env

ALLOWANCE = 3
PASSWORD = "forwarded addresses 1"
WRONG = "wrong password 1"
SETTINGS = {
    "LAB_LOGIN_ACCOUNT_ALLOWANCE": str(ALLOWANCE),
    "LAB_LOGIN_ADDRESS_ALLOWANCE": "1000",  # only the account buckets are looked at here
    "LAB_ARGON2_TIME_COST": "1",
    "LAB_ARGON2_MEMORY_KIB": "64",
    "LAB_ARGON2_PARALLELISM": "1",
}


def _stack(tmp_path_factory: pytest.TempPathFactory, name: str, **extra: str) -> Iterator[Stack]:
    stack = Stack(env=stack_env(tmp_path_factory.mktemp(name) / "state", 1, **(SETTINGS | extra)))
    try:
        stack.up()
        yield stack
    finally:
        stack.down()


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """No trusted proxies: only the gateway's proof names another address."""
    yield from _stack(tmp_path_factory, "plain")


@pytest.fixture(scope="module")
def behind_proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """LAB_TRUSTED_PROXIES=127.0.0.1: every loopback peer is a proxy whose header counts."""
    yield from _stack(tmp_path_factory, "proxied", LAB_TRUSTED_PROXIES="127.0.0.1")


def _login_url(stack: Stack, entry: str) -> str:
    if entry == "gateway":
        return f"http://127.0.0.1:{stack.settings.lab_gateway_port}/auth/login"
    return f"http://127.0.0.1:{stack.settings.lab_auth_port}/login"


def _register(stack: Stack, username: str) -> None:
    reply = client(stack).register(username, PASSWORD)
    assert reply.status == 201, reply.body


def _body(username: str, password: str = WRONG) -> bytes:
    return json.dumps({"username": username, "password": password}).encode()


def _post(url: str, body: bytes, headers: list[tuple[str, str]]) -> int:
    sent = [("Content-Type", "application/json"), *headers]
    return httpx.post(url, content=body, headers=sent, timeout=30).status_code


def _failures_at(stack: Stack, address: str) -> int:
    """Failed logins auth has counted against an address (its address bucket)."""
    engine = make_engine(stack.settings.database_url("auth"))
    try:
        with engine.connect() as conn:
            found = conn.execute(
                select(failures_table.c.failures).where(
                    failures_table.c.bucket == buckets("", address)[2]
                )
            ).scalar_one_or_none()
    finally:
        engine.dispose()
    return int(found or 0)


def _forged(address: str, body: bytes) -> str:
    return sign_proof(
        b"a key of my own",
        address=address,
        method="POST",
        target=b"/login",
        body=body,
        now=time.time(),
    )


@pytest.mark.parametrize("entry", ["gateway", "auth"])
def test_rotating_x_forwarded_for_earns_no_extra_guesses(plain: Stack, entry: str) -> None:
    username = f"rotating-{entry}"
    _register(plain, username)
    url = _login_url(plain, entry)
    statuses = []
    for k in range(ALLOWANCE + 6):
        address = f"192.0.2.{k + 1}"
        body = _body(username)
        headers = [("X-Forwarded-For", address), (PROOF_HEADER, _forged(address, body))]
        statuses.append(_post(url, body, headers))
    assert 429 in statuses, statuses
    evaluated = statuses.index(429)
    assert evaluated <= ALLOWANCE + 1, statuses
    assert set(statuses[:evaluated]) == {401} and set(statuses[evaluated:]) == {429}, statuses
    # The right password waits too, whatever address it names.
    headers = [("X-Forwarded-For", "192.0.2.200")]
    assert _post(url, _body(username, PASSWORD), headers) == 429
    assert all(_failures_at(plain, f"192.0.2.{k + 1}") == 0 for k in range(ALLOWANCE + 6))


def test_the_gateways_proof_is_believed_once_and_for_its_own_request_only(plain: Stack) -> None:
    url = _login_url(plain, "auth")
    key = plain.settings.gateway_proxy_key()
    proven = "198.51.100.7"

    def proof(
        body: bytes, *, method: str = "POST", target: bytes = b"/login", skew: float = 0.0
    ) -> str:
        now = time.time() + skew
        return sign_proof(key, address=proven, method=method, target=target, body=body, now=now)

    genuine = _body("ghost-genuine")
    genuine_proof = proof(genuine)
    assert _post(url, genuine, [("X-Forwarded-For", proven), (PROOF_HEADER, genuine_proof)]) == 401
    assert _failures_at(plain, proven) == 1
    internal = plain.settings.internal_token()
    attempts: list[tuple[bytes, list[tuple[str, str]]]] = [
        (genuine, [("X-Forwarded-For", proven), (PROOF_HEADER, genuine_proof)]),  # replayed
    ]
    forgeries = {
        "another key": lambda b: [("X-Forwarded-For", proven), (PROOF_HEADER, _forged(proven, b))],
        "another address": lambda b: [
            ("X-Forwarded-For", "198.51.100.8"),
            (PROOF_HEADER, proof(b)),
        ],
        "another body": lambda b: [("X-Forwarded-For", proven), (PROOF_HEADER, proof(genuine))],
        "another target": lambda b: [
            ("X-Forwarded-For", proven),
            (PROOF_HEADER, proof(b, target=b"/login?x=1")),
        ],
        "another method": lambda b: [
            ("X-Forwarded-For", proven),
            (PROOF_HEADER, proof(b, method="PUT")),
        ],
        "expired": lambda b: [
            ("X-Forwarded-For", proven),
            (PROOF_HEADER, proof(b, skew=-120)),
        ],
        "from the future": lambda b: [
            ("X-Forwarded-For", proven),
            (PROOF_HEADER, proof(b, skew=120)),
        ],
        "two headers": lambda b: [
            ("X-Forwarded-For", proven),
            ("X-Forwarded-For", proven),
            (PROOF_HEADER, proof(b)),
        ],
        "the internal token": lambda b: [
            ("X-Forwarded-For", proven),
            ("X-Internal-Token", internal),
        ],
        "the internal token as the proof": lambda b: [
            ("X-Forwarded-For", proven),
            (PROOF_HEADER, internal),
        ],
    }
    for name, forge in forgeries.items():
        body = _body(f"ghost-{name.replace(' ', '-')}")
        attempts.append((body, forge(body)))
    before = _failures_at(plain, "127.0.0.1")
    for body, headers in attempts:
        assert _post(url, body, headers) == 401
    # Each counted against the peer; the proven address never got a second failure.
    assert _failures_at(plain, "127.0.0.1") == before + len(attempts)
    assert _failures_at(plain, proven) == 1
    assert _failures_at(plain, "198.51.100.8") == 0


@pytest.mark.parametrize("entry", ["gateway", "auth"])
def test_a_trusted_proxys_addresses_get_separate_buckets(behind_proxy: Stack, entry: str) -> None:
    username = f"proxied-{entry}"
    _register(behind_proxy, username)
    url = _login_url(behind_proxy, entry)
    first, second = f"198.51.100.{10 if entry == 'gateway' else 20}", f"203.0.113.{len(entry)}"
    statuses = [
        _post(url, _body(username), [("X-Forwarded-For", first)]) for _ in range(ALLOWANCE + 3)
    ]
    assert statuses.count(401) >= ALLOWANCE and 429 in statuses, statuses
    # The other address is not held back by the first one's failures.
    assert _post(url, _body(username), [("X-Forwarded-For", second)]) == 401
    assert _post(url, _body(username, PASSWORD), [("X-Forwarded-For", second)]) == 200
    assert _failures_at(behind_proxy, first) == statuses.count(401)
    assert _failures_at(behind_proxy, second) == 1
    # Entries left of the proxy's own are the client's claim: the right-most one counts.
    claimed = f"6.6.6.6, 192.0.2.{len(entry)}"
    assert _post(url, _body(username), [("X-Forwarded-For", claimed)]) == 401
    assert _failures_at(behind_proxy, f"192.0.2.{len(entry)}") == 1
    assert _failures_at(behind_proxy, "6.6.6.6") == 0
