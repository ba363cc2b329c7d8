"""Account security in process (ASGI, real SQLite): throttling, enumeration, password rules,
rehashing and bounded hashing."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from auth import store
from auth.app import create_app
from auth.models import username_key
from auth.passwords import BoundedRunner, HashingBusy
from common.db import make_engine
from common.forwarded import PROOF_HEADER, sign_proof
from common.settings import Settings
from tests.support import await_for

PASSWORD = "correct horse battery"
PROXY_KEY = "gateway-proxy-key"
FAST_ARGON2 = {"lab_argon2_time_cost": 1, "lab_argon2_memory_kib": 64, "lab_argon2_parallelism": 1}


def _settings(state: Path, **extra: Any) -> Settings:
    return Settings(
        lab_state_dir=state,
        valkey_url="redis://127.0.0.1:1/0",  # lazy mode never connects
        lab_internal_token="internal-secret",
        lab_gateway_proxy_key=PROXY_KEY,
        **{**FAST_ARGON2, **extra},
    )


@asynccontextmanager
async def _client(app: FastAPI, address: str = "10.0.0.1") -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://auth") as client:
        yield client


@asynccontextmanager
async def _auth(settings: Settings) -> AsyncIterator[FastAPI]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        yield app


async def _register(client: httpx.AsyncClient, name: str, password: str = PASSWORD) -> int:
    r = await client.post("/register", json={"username": name, "password": password})
    assert r.status_code == 201, r.text
    return int(r.json()["user_id"])


def _login(
    client: httpx.AsyncClient, name: str, password: str = PASSWORD, via: str | None = None
) -> Awaitable[httpx.Response]:
    body = json.dumps({"username": name, "password": password}).encode()
    headers = {"Content-Type": "application/json"}
    if via:  # as the gateway forwards a client's address: with a proof for this very request
        proof = sign_proof(
            PROXY_KEY.encode(),
            address=via,
            method="POST",
            target=b"/login",
            body=body,
            now=time.time(),
        )
        headers |= {"X-Forwarded-For": via, PROOF_HEADER: proof}
    return client.post("/login", content=body, headers=headers)


def test_failures_are_throttled_per_account_at_an_address(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with _auth(_settings(tmp_path)) as app, _client(app) as client:
            await _register(client, "alice")
            await _register(client, "bob")
            for _ in range(5):  # the allowance
                assert (await _login(client, "alice", "wrong password")).status_code == 401
            assert (await _login(client, "alice", "wrong password")).status_code == 401
            blocked = await _login(client, "alice")  # even the right password waits now
            assert blocked.status_code == 429
            assert blocked.json() == {"success": False, "error": "too_many_attempts"}
            assert int(blocked.headers["Retry-After"]) >= 1
            # Another user at the same address, and alice from elsewhere, are not slowed.
            assert (await _login(client, "bob")).status_code == 200
            assert (await _login(client, "alice", via="192.0.2.7")).status_code == 200
            # A forwarded address without the gateway's proof is not believed, whatever else
            # comes with it.
            spoofed = await client.post(
                "/login",
                json={"username": "alice", "password": PASSWORD},
                headers={"X-Forwarded-For": "192.0.2.99", "X-Internal-Token": "internal-secret"},
            )
            assert spoofed.status_code == 429
            # The block ends by itself: a lock-out is never for good.
            await await_for(lambda: _status(_login(client, "alice")), timeout=10, interval=0.2)

    asyncio.run(scenario())


async def _status(response: Awaitable[httpx.Response]) -> bool:
    return (await response).status_code == 200


def test_only_failures_count(tmp_path: Path) -> None:
    async def scenario() -> None:
        settings = _settings(tmp_path, lab_login_account_allowance=2)
        async with _auth(settings) as app, _client(app) as client:
            await _register(client, "carol")
            for _ in range(10):
                assert (await _login(client, "carol")).status_code == 200
            assert (await _login(client, "carol", "wrong password")).status_code == 401
            assert (await _login(client, "carol")).status_code == 200  # and success clears
            for _ in range(2):
                assert (await _login(client, "carol", "wrong password")).status_code == 401
            assert (await _login(client, "carol")).status_code == 200

    asyncio.run(scenario())


def test_address_bucket_stops_spraying_across_accounts(tmp_path: Path) -> None:
    async def scenario() -> None:
        settings = _settings(tmp_path, lab_login_address_allowance=3)
        async with _auth(settings) as app, _client(app) as client:
            await _register(client, "dave")
            for k in range(4):
                assert (await _login(client, f"nobody{k}", "wrong password")).status_code == 401
            assert (await _login(client, "dave")).status_code == 429
            assert (await _login(client, "dave", via="198.51.100.1")).status_code == 200

    asyncio.run(scenario())


def test_failures_from_many_addresses_throttle_the_account(tmp_path: Path) -> None:
    async def scenario() -> None:
        settings = _settings(
            tmp_path, lab_login_account_allowance=2, lab_login_account_wide_allowance=4
        )
        async with _auth(settings) as app, _client(app) as client:
            await _register(client, "heidi")
            await _register(client, "ivan")
            # Three addresses, each within its own allowance: 2 + 2 + 1 failures on one account.
            for address, tries in (("192.0.2.1", 2), ("192.0.2.2", 2), ("192.0.2.3", 1)):
                for _ in range(tries):
                    wrong = await _login(client, "heidi", "wrong password", via=address)
                    assert wrong.status_code == 401
            blocked = await _login(client, "heidi", via="198.51.100.9")  # a fresh address
            assert blocked.status_code == 429
            assert int(blocked.headers["Retry-After"]) >= 1
            assert (await _login(client, "ivan", via="192.0.2.1")).status_code == 200
            await await_for(
                lambda: _status(_login(client, "heidi", via="198.51.100.9")),
                timeout=10,
                interval=0.2,
            )

    asyncio.run(scenario())


def test_two_auth_processes_share_one_count(tmp_path: Path) -> None:
    async def scenario() -> None:
        settings = _settings(tmp_path)
        async with (
            _auth(settings) as first,
            _auth(settings) as second,
            _client(first) as a,
            _client(second) as b,
        ):
            await _register(a, "erin")
            for k in range(6):  # alternate replicas: 6 failures in all, not 3 each
                client = a if k % 2 else b
                assert (await _login(client, "erin", "wrong password")).status_code == 401
            assert (await _login(a, "erin")).status_code == 429
            assert (await _login(b, "erin")).status_code == 429

    asyncio.run(scenario())


def test_login_answers_do_not_reveal_whether_the_account_exists(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with _auth(_settings(tmp_path)) as app, _client(app) as client:
            await _register(client, "frank")
            gone = await _register(client, "grace")
            token = (await _login(client, "grace")).json()["token"]
            r = await client.delete("/users/me", headers={"Authorization": f"Bearer {token}"})
            assert r.status_code == 204 and gone
            answers = [
                await _login(client, "frank", "wrong password"),
                await _login(client, "nobody-at-all"),
                await _login(client, "grace"),
            ]
            assert {r.status_code for r in answers} == {401}
            assert len({r.content for r in answers}) == 1

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("password1", "commonly used"),
        ("Password1", "commonly used"),
        ("qwertyuiop", "commonly used"),
        ("henry-the-user", "username"),
    ],
)
def test_common_passwords_and_the_username_are_refused(
    tmp_path: Path, password: str, reason: str
) -> None:
    async def scenario() -> None:
        async with _auth(_settings(tmp_path)) as app, _client(app) as client:
            body = {"username": "henry-the-user", "password": password}
            r = await client.post("/register", json=body)
            assert r.status_code == 422
            assert r.json()["error"] == "weak_password" and reason in r.json()["detail"]

    asyncio.run(scenario())


def test_passwords_are_nfkc_normalised_and_bounded_before_hashing(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with _auth(_settings(tmp_path)) as app, _client(app) as client:
            fullwidth = "".join(chr(ord(c) + 0xFEE0) if c != " " else c for c in PASSWORD)
            await _register(client, "ivy", fullwidth)
            assert (await _login(client, "ivy", PASSWORD)).status_code == 200
            # 1000 characters that NFKC expands past 1024 are refused, as are short ones.
            for password in ("\ufdfa" * 1000, "short"):
                body = {"username": "jack", "password": password}
                r = await client.post("/register", json=body)
                assert r.status_code == 422, r.text

    asyncio.run(scenario())


def test_old_hashes_are_rehashed_at_login(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with _auth(_settings(tmp_path)) as app, _client(app) as client:
            await _register(client, "kate")
        stronger = _settings(tmp_path, lab_argon2_time_cost=2, lab_argon2_memory_kib=128)
        engine = make_engine(stronger.database_url("auth"))
        before = store.find_login(engine, username_key("kate"))
        assert before and "m=64,t=1" in before[1]
        async with _auth(stronger) as app, _client(app) as client:
            assert (await _login(client, "kate", "wrong password")).status_code == 401
            assert store.find_login(engine, username_key("kate")) == before  # not on failure
            assert (await _login(client, "kate")).status_code == 200
        after = store.find_login(engine, username_key("kate"))
        assert after and "m=128,t=2" in after[1]
        async with _auth(stronger) as app, _client(app) as client:
            assert (await _login(client, "kate")).status_code == 200  # the new hash verifies
        engine.dispose()

    asyncio.run(scenario())


def test_hashing_beyond_the_queue_is_refused_at_once() -> None:
    async def scenario() -> None:
        runner = BoundedRunner(workers=1, queue=1)
        release = threading.Event()
        running = [asyncio.create_task(runner.run(release.wait, 10)) for _ in range(2)]
        await asyncio.sleep(0)  # both admitted: one hashing, one queued
        with pytest.raises(HashingBusy):
            await runner.run(release.wait, 10)
        assert runner.refused == 1
        release.set()
        assert await asyncio.gather(*running) == [True, True]
        assert await runner.run(lambda: "free again") == "free again"

    asyncio.run(scenario())


def test_a_full_hashing_queue_answers_503_with_retry_after(tmp_path: Path) -> None:
    async def scenario() -> None:
        settings = _settings(tmp_path, lab_hash_workers=1, lab_hash_queue=0)
        async with _auth(settings) as app, _client(app) as client:
            service = app.state.service
            release = threading.Event()
            hog = asyncio.create_task(service.passwords.runner.run(release.wait, 10))
            await asyncio.sleep(0)
            r = await client.post("/register", json={"username": "liam", "password": PASSWORD})
            assert r.status_code == 503 and r.headers["Retry-After"] == "1"
            assert r.json()["error"] == "busy"
            assert (await _login(client, "liam")).status_code == 503
            release.set()
            await hog
            await _register(client, "liam")

    asyncio.run(scenario())


def test_an_attempt_the_hashing_queue_refuses_costs_no_allowance(tmp_path: Path) -> None:
    async def scenario() -> None:
        settings = _settings(
            tmp_path, lab_hash_workers=1, lab_hash_queue=0, lab_login_account_allowance=2
        )
        async with _auth(settings) as app, _client(app) as client:
            await _register(client, "mia")
            release = threading.Event()
            hog = asyncio.create_task(app.state.service.passwords.runner.run(release.wait, 10))
            await asyncio.sleep(0)
            for _ in range(5):
                assert (await _login(client, "mia", "wrong password")).status_code == 503
            release.set()
            await hog
            # The allowance is whole: two free failures, a third that blocks, then a wait.
            codes = [(await _login(client, "mia", "wrong password")).status_code for _ in range(4)]
            assert codes == [401, 401, 401, 429]

    asyncio.run(scenario())


def test_taken_names_are_answered_within_the_address_allowance(tmp_path: Path) -> None:
    async def scenario() -> None:
        settings = _settings(tmp_path, lab_register_taken_allowance=2)
        async with (
            _auth(settings) as app,
            _client(app) as client,
            _client(app, "10.0.0.2") as other,
        ):
            await _register(client, "noah")
            body = {"username": "NOAH", "password": PASSWORD}
            codes = [(await client.post("/register", json=body)).status_code for _ in range(4)]
            assert codes == [409, 409, 409, 429]
            # While blocked, a free name is refused too: a refusal says nothing about the name.
            free = await client.post("/register", json={"username": "olivia", "password": PASSWORD})
            assert free.status_code == 429 and int(free.headers["Retry-After"]) >= 1
            assert free.json() == {"success": False, "error": "too_many_attempts"}
            assert (await other.post("/register", json=body)).status_code == 409
            await await_for(
                lambda: _created(
                    client.post("/register", json={"username": "olivia", "password": PASSWORD})
                ),
                timeout=10,
                interval=0.2,
            )

    asyncio.run(scenario())


async def _created(response: Awaitable[httpx.Response]) -> bool:
    return (await response).status_code == 201
