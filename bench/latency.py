"""Latency and throughput of each mode, measured over HTTP through the gateway in rounds."""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import valkey.asyncio as avalkey

from bench.floors import argon2_throughput
from bench.harness import PASSWORD, Harness, User
from bench.loadgen import Connection, Request, closed_loop, get_request, json_request
from bench.results import ModeLatency, Stats, Throughput
from bench.usage import client_counters, users_active
from bench.variants import Variant
from common.settings import CONSUMER_SERVICES, Mode
from events import names
from events.aio import stop_task

Progress = Callable[[str], None]
PATHS = ("whoami", "verify")


@dataclass
class Sizes:
    """How much to measure per round."""

    registrations: int
    steady_calls: int
    throughput_s: float
    hash_s: float = 2.0
    concurrency: int = 4
    load_concurrency: int = 8


@dataclass
class Samples:
    """Raw samples of one mode, per round."""

    registration: list[list[float]] = field(default_factory=list)
    login: list[list[float]] = field(default_factory=list)
    first_call: list[list[float]] = field(default_factory=list)
    steady: list[list[float]] = field(default_factory=list)
    verify_only: list[list[float]] = field(default_factory=list)
    propagation: list[list[float]] = field(default_factory=list)
    propagation_timeouts: int = 0
    first_call_extra: list[list[float]] = field(default_factory=list)
    steady_miss: list[list[float]] = field(default_factory=list)
    verify_miss: list[list[float]] = field(default_factory=list)
    hash_tp: list[tuple[int, float]] = field(default_factory=list)
    reg_tp: list[tuple[int, float]] = field(default_factory=list)
    steady_tp: list[tuple[int, float]] = field(default_factory=list)
    verify_tp: list[tuple[int, float]] = field(default_factory=list)
    valkey_users: set[str] = field(default_factory=set)
    windows: list[tuple[float, float]] = field(default_factory=list)  # each round's epoch span


class EventClock:
    """Records each user.registered event's time as it is published, from either transport."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.times: dict[int, datetime] = {}
        self._task: asyncio.Task[None] | None = None
        self._client = avalkey.Valkey.from_url(url)
        self._stream_from = "$"

    async def start(self, mode: Mode) -> None:
        if mode.transport == "pubsub":
            ready = asyncio.Event()
            self._task = asyncio.create_task(self._listen(ready))
            await ready.wait()
        else:
            last = await self._client.xrevrange(names.STREAM, count=1)
            self._stream_from = last[0][0].decode() if last else "0"

    async def stop(self) -> None:
        if self._task is not None:
            await stop_task(self._task)
            self._task = None
        else:
            entries = await self._client.xrange(names.STREAM, min=f"({self._stream_from}")
            for _id, fields in entries:
                self._note(fields.get(names.STREAM_FIELD.encode(), b""))
        await self._client.aclose()

    async def _listen(self, ready: asyncio.Event) -> None:
        pubsub = self._client.pubsub(ignore_subscribe_messages=True)
        await pubsub.subscribe(names.CHANNEL)
        ready.set()
        try:
            while True:
                msg = await pubsub.get_message(timeout=1.0)
                if msg and msg.get("type") == "message":
                    self._note(msg["data"])
        finally:
            await pubsub.aclose()

    def _note(self, raw: bytes) -> None:
        try:
            event = json.loads(raw)
        except ValueError:
            return
        if event.get("type") == names.USER_REGISTERED:
            self.times[int(event["data"]["user_id"])] = datetime.fromisoformat(event["time"])


async def _wait_known(h: Harness, ids: set[int], timeout: float) -> dict[str, dict[int, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        known = {s: await h.known(s) for s in CONSUMER_SERVICES}
        if all(ids <= set(k) for k in known.values()) or time.monotonic() > deadline:
            return known
        await asyncio.sleep(0.05)


async def measure_round(
    h: Harness, variant: Variant, sizes: Sizes, samples: Samples, rng: random.Random
) -> None:
    """One round of every latency figure for one mode."""
    await h.switch(variant)
    url = h.stack.settings.effective_valkey_url
    clients = await client_counters(url)
    clock = EventClock(url) if variant.mode is not Mode.LAZY else None
    if clock:
        await clock.start(variant.mode)
    started = time.perf_counter()
    users = await h.register(sizes.registrations, concurrency=sizes.concurrency, prefix="lat")
    reg_elapsed = time.perf_counter() - started
    samples.reg_tp.append((len(users), reg_elapsed))
    # The raw hashing rate over a window as long as the registrations', right after them.
    raw = await asyncio.to_thread(argon2_throughput, sizes.concurrency, reg_elapsed)
    samples.hash_tp.append((raw.requests, raw.duration_s))
    # Registration and login latencies come from a one-at-a-time pass at the end of the round;
    # the concurrent pass above gives the throughput.
    if clock:
        ids = {u.user_id for u in users}
        known = await _wait_known(h, ids, timeout=10)
        await clock.stop()
        props = []
        for service_known in known.values():
            for uid in ids:
                if uid in service_known and uid in clock.times:
                    since = datetime.fromisoformat(service_known[uid]["known_since"])
                    props.append((since - clock.times[uid]).total_seconds() * 1000)
        samples.propagation.append(props)
        samples.propagation_timeouts += len(ids) * len(known) - len(props)
    await h.login(users, concurrency=sizes.concurrency)
    pool = [u for u in users if u.token]
    firsts, extras = await _first_calls(h, pool, rng)
    samples.first_call.append(firsts)
    samples.first_call_extra.append(extras)
    await _steady(h, pool, sizes, samples, rng)
    samples.registration.append(await _timed_registrations(h, sizes))
    samples.login.append(await _timed_logins(h, users, sizes))
    samples.valkey_users |= users_active(clients, await client_counters(url))


async def _timed(conn: Connection, request: Request) -> float:
    """One request on an open connection, in ms."""
    started = time.perf_counter()
    await conn.request(*request)
    return (time.perf_counter() - started) * 1000


async def _first_calls(
    h: Harness, users: list[User], rng: random.Random
) -> tuple[list[float], list[float]]:
    """Each user's first call on each consumer, in a random order, each followed at once by a
    second one; returns the first calls and the per-user differences (first − second)."""
    conn = Connection(h.host, h.gateway_port)
    await conn.open()
    firsts, extras = [], []
    try:
        for user in users:
            for service in rng.sample(CONSUMER_SERVICES, len(CONSUMER_SERVICES)):
                request = get_request(f"/{service}/whoami", user.token)
                first = await _timed(conn, request)
                firsts.append(first)
                extras.append(first - await _timed(conn, request))
    finally:
        await conn.close()
    return firsts, extras


async def _timed_registrations(h: Harness, sizes: Sizes) -> list[float]:
    tag = f"lat2-{time.monotonic_ns()}"
    result = await closed_loop(
        h.host,
        h.gateway_port,
        lambda i: json_request(
            "POST", "/auth/register", {"username": f"{tag}-{i}", "password": PASSWORD}
        ),
        total=max(2, sizes.registrations),
        concurrency=1,
    )
    return result.latencies


async def _timed_logins(h: Harness, users: list[User], sizes: Sizes) -> list[float]:
    result = await closed_loop(
        h.host,
        h.gateway_port,
        lambda i: json_request(
            "POST", "/auth/login", {"username": users[i % len(users)].name, "password": PASSWORD}
        ),
        total=max(2, sizes.registrations // 2),
        concurrency=1,
    )
    return result.latencies


BLOCK = 50  # calls of one endpoint in a row


async def _steady(
    h: Harness, users: list[User], sizes: Sizes, samples: Samples, rng: random.Random
) -> None:
    """Steady /whoami against /verify over many users, on an open connection, in blocks whose
    order is drawn at random. Calls within the known-user cache's lifetime are hits; then every
    entry is left to expire and each user calls once more: the misses."""
    conn = Connection(h.host, h.gateway_port)
    await conn.open()
    calls = {path: [get_request(f"/profiles/{path}", u.token) for u in users] for path in PATHS}
    hits: dict[str, list[float]] = {path: [] for path in PATHS}
    misses: dict[str, list[float]] = {path: [] for path in PATHS}
    try:
        for i in range(BLOCK):  # warm up
            await conn.request(*calls["whoami"][i % len(users)])
        for _ in range(max(1, sizes.steady_calls // BLOCK)):
            for path in rng.sample(PATHS, len(PATHS)):
                for i in range(BLOCK):
                    hits[path].append(await _timed(conn, calls[path][i % len(users)]))
        await asyncio.sleep(h.stack.settings.lab_known_cache_ttl + 0.1)
        for index in rng.sample(range(len(users)), len(users)):
            for path in rng.sample(PATHS, len(PATHS)):
                misses[path].append(await _timed(conn, calls[path][index]))
    finally:
        await conn.close()
    samples.steady.append(hits["whoami"])
    samples.verify_only.append(hits["verify"])
    samples.steady_miss.append(misses["whoami"])
    samples.verify_miss.append(misses["verify"])
    half = sizes.throughput_s / 2
    for _ in range(2):
        for path, out in rng.sample(
            [("whoami", samples.steady_tp), ("verify", samples.verify_tp)], 2
        ):
            requests = calls[path]
            tp = await closed_loop(
                h.host,
                h.gateway_port,
                lambda i, requests=requests: requests[i % len(requests)],  # type: ignore[misc]
                duration=half,
                concurrency=sizes.load_concurrency,
            )
            out.append((len(tp.latencies), tp.elapsed_s))


def _throughput(parts: list[tuple[int, float]], concurrency: int) -> Throughput:
    count = sum(n for n, _ in parts)
    elapsed = sum(t for _, t in parts)
    return Throughput(
        concurrency=concurrency,
        rps=round(count / elapsed, 3) if elapsed else 0.0,
        duration_s=round(elapsed, 3),
        requests=count,
        rounds=[(n, round(t, 4)) for n, t in parts],
    )


def _stats(rounds: list[list[float]]) -> Stats:
    return Stats.of([x for r in rounds for x in r], rounds)


def summarise(variant: Variant, s: Samples, sizes: Sizes) -> ModeLatency:
    """Turn the rounds of one mode into its ModeLatency."""
    return ModeLatency(
        registration=_stats(s.registration),
        login=_stats(s.login),
        first_call=_stats(s.first_call),
        steady=_stats(s.steady),
        verify_only=_stats(s.verify_only),
        steady_miss=_stats(s.steady_miss),
        verify_miss=_stats(s.verify_miss),
        first_call_extra=_stats(s.first_call_extra),
        propagation_timeouts=s.propagation_timeouts,
        matched_hash=_throughput(s.hash_tp, sizes.concurrency),
        propagation=_stats(s.propagation) if variant.mode is not Mode.LAZY else None,
        registration_throughput=_throughput(s.reg_tp, sizes.concurrency),
        steady_throughput=_throughput(s.steady_tp, sizes.load_concurrency),
        verify_throughput=_throughput(s.verify_tp, sizes.load_concurrency),
        valkey_users=sorted(s.valkey_users),
        round_windows=s.windows,
    )


async def measure_all(
    h: Harness,
    variants: list[Variant],
    sizes: Sizes,
    rounds: int,
    progress: Progress,
    seed: int,
) -> tuple[dict[str, ModeLatency], Throughput, list[list[str]]]:
    """Interleave the modes in rounds, in an order shuffled per round from `seed`, so that
    machine noise and warm-up land on every mode alike; returns the order each round ran in.

    Each round starts with the raw argon2id rate at the registration concurrency, so the
    registration target compares figures taken under the same conditions.
    """
    samples = {v.label: Samples() for v in variants}
    hashing: list[tuple[int, float]] = []
    orders: list[list[str]] = []
    rng = random.Random(seed)
    for r in range(rounds):
        progress(f"latency round {r + 1}/{rounds}: raw argon2id rate")
        raw = await asyncio.to_thread(argon2_throughput, sizes.concurrency, sizes.hash_s)
        hashing.append((raw.requests, raw.duration_s))
        order = rng.sample(variants, len(variants))
        orders.append([v.label for v in order])
        for v in order:
            progress(f"latency round {r + 1}/{rounds}: {v.label}")
            began = time.time()
            await measure_round(h, v, sizes, samples[v.label], rng)
            samples[v.label].windows.append((round(began, 3), round(time.time(), 3)))
    summary = {v.label: summarise(v, samples[v.label], sizes) for v in variants}
    return summary, _throughput(hashing, sizes.concurrency), orders
