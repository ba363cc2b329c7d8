"""Reference lines measured in the same run: Valkey, a DB insert, JWT verify, HTTP, argon2."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import valkey.asyncio as avalkey

from auth.passwords import hash_password_sync
from bench.loadgen import closed_loop, get_request
from bench.results import Stats, Throughput
from common.db import make_engine
from common.tokens import (
    SigningKey,
    generate_private_key,
    keys_from_jwks,
    mint_access_token,
    public_jwk,
    verify_token,
)
from consumers import store
from consumers.profiles import ProfilesSpec
from lab.net import free_port

FLOOR_CHANNEL = "bench.floor"
FLOOR_STREAM = "bench.floor.stream"


async def valkey_pubsub(url: str, n: int) -> list[float]:
    """PUBLISH to a subscriber in another connection receiving it, in ms."""
    sub = avalkey.Valkey.from_url(url)
    pub = avalkey.Valkey.from_url(url)
    pubsub = sub.pubsub(ignore_subscribe_messages=True)
    await pubsub.subscribe(FLOOR_CHANNEL)
    out = []
    try:
        for i in range(n):
            started = time.perf_counter()
            await pub.publish(FLOOR_CHANNEL, f"{i}")
            while True:
                msg = await pubsub.get_message(timeout=1.0)
                if msg and msg.get("type") == "message":
                    break
            out.append((time.perf_counter() - started) * 1000)
    finally:
        await pubsub.aclose()
        await sub.aclose()
        await pub.aclose()
    return out


async def valkey_stream(url: str, n: int) -> list[float]:
    """XADD to a consumer blocked in XREADGROUP receiving it, in ms."""
    reader = avalkey.Valkey.from_url(url)
    writer = avalkey.Valkey.from_url(url)
    await writer.delete(FLOOR_STREAM)
    await writer.xgroup_create(FLOOR_STREAM, "floor", id="$", mkstream=True)
    out = []
    try:
        for _ in range(n):
            read = asyncio.create_task(
                reader.xreadgroup("floor", "c", {FLOOR_STREAM: ">"}, count=1, block=2000)
            )
            await asyncio.sleep(0.002)  # let the reader block first, as a consumer would be
            started = time.perf_counter()
            await writer.xadd(FLOOR_STREAM, {"event": "x"})
            reply = await read
            out.append((time.perf_counter() - started) * 1000)
            for _s, entries in reply or []:
                for entry_id, _f in entries:
                    await writer.xack(FLOOR_STREAM, "floor", entry_id)
    finally:
        await writer.delete(FLOOR_STREAM)
        await reader.aclose()
        await writer.aclose()
    return out


def db_insert(n: int) -> list[float]:
    """One provisioning insert (known user + profile) into a fresh SQLite file, in ms."""
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{Path(tmp) / 'floor.sqlite3'}")
        spec = ProfilesSpec()
        store.create_schema(engine, spec)
        out = []
        for i in range(n):
            started = time.perf_counter()
            store.provision(engine, spec, i + 1, None, "event")
            out.append((time.perf_counter() - started) * 1000)
        engine.dispose()
    return out


def jwt_verify(n: int) -> list[float]:
    """PyJWT verification of one RS256 access token, in process, in ms."""
    key = SigningKey("floor", "RS256", generate_private_key("RS256"))
    keys = keys_from_jwks({"keys": [public_jwk(key)]})
    token = mint_access_token(key, user_id=1, issuer="i", audience="a", client_id="c", ttl=600)
    out = []
    for _ in range(n):
        started = time.perf_counter()
        verify_token(token, keys, issuer="i", audience="a", max_lifetime=600, leeway=30)
        out.append((time.perf_counter() - started) * 1000)
    return out


async def bare_fastapi(n: int) -> list[float]:
    """GET on an empty FastAPI endpoint in its own uvicorn process, over a kept-alive connection."""
    port = free_port()
    proc = subprocess.Popen(  # noqa: ASYNC220 - started once, before any measuring
        [sys.executable, "-m", "bench.parts.latency.bare", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        async with httpx.AsyncClient() as client:
            while True:
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get(f"http://127.0.0.1:{port}/ping")).status_code == 200:
                        break
                if time.monotonic() > deadline:
                    raise RuntimeError("bare FastAPI did not start")
                await asyncio.sleep(0.05)
        await closed_loop("127.0.0.1", port, lambda i: get_request("/ping"), total=50)
        result = await closed_loop("127.0.0.1", port, lambda i: get_request("/ping"), total=n)
        return result.latencies
    finally:
        proc.terminate()
        proc.wait(10)


def argon2_hashes(n: int) -> list[float]:
    """Single argon2id hashes with the service's parameters, in ms."""
    out = []
    for i in range(n):
        started = time.perf_counter()
        hash_password_sync(f"floor password {i}")
        out.append((time.perf_counter() - started) * 1000)
    return out


def argon2_throughput(concurrency: int, duration: float) -> Throughput:
    """argon2id hashes per second from `concurrency` threads, as registration would run them."""
    count = 0
    lock = threading.Lock()
    stop = time.perf_counter() + duration

    def work() -> None:
        nonlocal count
        while time.perf_counter() < stop:
            hash_password_sync("throughput password")
            with lock:
                count += 1

    started = time.perf_counter()
    threads = [threading.Thread(target=work) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    return Throughput(
        concurrency=concurrency,
        rps=round(count / elapsed, 3),
        duration_s=round(elapsed, 3),
        requests=count,
    )


def stats(samples: list[float]) -> Stats:
    """Stats of a floor's samples."""
    return Stats.of(samples)
