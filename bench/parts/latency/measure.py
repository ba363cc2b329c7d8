"""Latency and throughput of each mode, measured over HTTP through the gateway in rounds."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bench.harness import PASSWORD, Harness, User
from bench.loadgen import Connection, Request, closed_loop, get_request, json_request
from bench.parts.latency import pathfloor
from bench.parts.latency.floors import argon2_throughput
from bench.parts.latency.pathfloor import PathFloorRun
from bench.parts.latency.stamps import sample_of, split, total_ms
from bench.parts.latency.usage import client_counters, users_active
from bench.results import ModeLatency, PathFloor, PropagationSample, Stats, Throughput
from bench.variants import Variant
from common.settings import CONSUMER_SERVICES, Mode

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
    propagation_unstamped: int = 0
    propagation_samples: list[PropagationSample] = field(default_factory=list)
    first_call_extra: list[list[float]] = field(default_factory=list)
    steady_miss: list[list[float]] = field(default_factory=list)
    verify_miss: list[list[float]] = field(default_factory=list)
    hash_tp: list[tuple[int, float]] = field(default_factory=list)
    reg_tp: list[tuple[int, float]] = field(default_factory=list)
    steady_tp: list[tuple[int, float]] = field(default_factory=list)
    verify_tp: list[tuple[int, float]] = field(default_factory=list)
    valkey_users: set[str] = field(default_factory=set)
    windows: list[tuple[float, float]] = field(default_factory=list)  # each round's epoch span


async def _propagation(h: Harness, ids: set[int], samples: Samples) -> None:
    """Each (user, consumer) pair's stage stamps, read from the consumers once every user is
    known or the wait is over; pairs not known in time count as timeouts."""
    known = await _wait_known(h, ids, timeout=10)
    round_ = len(samples.windows)
    found = []
    for service, users in known.items():
        for uid in sorted(ids & set(users)):
            sample = sample_of(uid, service, round_, users[uid].get("stages"))
            if sample is None:
                samples.propagation_unstamped += 1
            else:
                found.append(sample)
    samples.propagation.append([total_ms(s) for s in found])
    samples.propagation_samples += found
    samples.propagation_timeouts += sum(len(ids - set(users)) for users in known.values())


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
    started = time.perf_counter()
    users = await h.register(sizes.registrations, concurrency=sizes.concurrency, prefix="lat")
    reg_elapsed = time.perf_counter() - started
    samples.reg_tp.append((len(users), reg_elapsed))
    # The raw hashing rate over a window as long as the registrations', right after them.
    raw = await asyncio.to_thread(argon2_throughput, sizes.concurrency, reg_elapsed)
    samples.hash_tp.append((raw.requests, raw.duration_s))
    # Registration and login latencies come from a one-at-a-time pass at the end of the round;
    # the concurrent pass above gives the throughput.
    if variant.mode is not Mode.LAZY:
        await _propagation(h, {u.user_id for u in users}, samples)
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
        propagation_unstamped=s.propagation_unstamped,
        propagation_samples=s.propagation_samples,
        propagation_stages=split(s.propagation_samples),
        matched_hash=_throughput(s.hash_tp, sizes.concurrency),
        propagation=_stats(s.propagation) if variant.mode is not Mode.LAZY else None,
        registration_throughput=_throughput(s.reg_tp, sizes.concurrency),
        steady_throughput=_throughput(s.steady_tp, sizes.load_concurrency),
        verify_throughput=_throughput(s.verify_tp, sizes.load_concurrency),
        valkey_users=sorted(s.valkey_users),
        round_windows=s.windows,
    )


async def _path_floor(
    h: Harness, transports: list[str], sizes: Sizes, round_: int, floors: dict[str, FloorRounds]
) -> None:
    """One round of the same-path floor on each transport, under a lazy registration burst."""
    await h.switch(Variant.parse("lazy"))  # the burst's load, without the modes' events
    settings = h.stack.settings
    for transport in transports:
        run = PathFloorRun(
            settings.effective_valkey_url, transport, settings.state_dir, settings.lab_jwt_alg.value
        )
        try:
            burst = h.register(sizes.registrations, concurrency=sizes.concurrency, prefix="floor")
            samples, sent = await run.run(burst, round_, least=sizes.registrations)
        finally:
            run.close()
        floors[transport].rounds.append(samples)
        floors[transport].sent += sent


@dataclass
class FloorRounds:
    """The same-path floor's samples of one transport, per round, and the events sent."""

    rounds: list[list[PropagationSample]] = field(default_factory=list)
    sent: int = 0


@dataclass
class Measured:
    """What measure_all returns."""

    latency: dict[str, ModeLatency]
    hashing: Throughput
    order: list[list[str]]  # the order the variants ran in, round by round
    path_floors: dict[str, PathFloor]  # by transport


async def measure_all(
    h: Harness,
    variants: list[Variant],
    sizes: Sizes,
    rounds: int,
    progress: Progress,
    seed: int,
) -> Measured:
    """Interleave the modes in rounds, in an order shuffled per round from `seed`, so that
    machine noise and warm-up land on every mode alike; returns the order each round ran in.

    Each round starts with the raw argon2id rate at the registration concurrency, so the
    registration target compares figures taken under the same conditions, then the same-path
    floor of each transport the event modes use.
    """
    samples = {v.label: Samples() for v in variants}
    transports: list[str] = sorted({t for v in variants if (t := v.mode.transport)})
    floors: dict[str, FloorRounds] = {t: FloorRounds() for t in transports}
    hashing: list[tuple[int, float]] = []
    orders: list[list[str]] = []
    rng = random.Random(seed)
    for r in range(rounds):
        progress(f"latency round {r + 1}/{rounds}: raw argon2id rate")
        raw = await asyncio.to_thread(argon2_throughput, sizes.concurrency, sizes.hash_s)
        hashing.append((raw.requests, raw.duration_s))
        if transports:
            progress(f"latency round {r + 1}/{rounds}: same-path floor ({', '.join(transports)})")
            await _path_floor(h, transports, sizes, r, floors)
        order = rng.sample(variants, len(variants))
        orders.append([v.label for v in order])
        for v in order:
            progress(f"latency round {r + 1}/{rounds}: {v.label}")
            began = time.time()
            await measure_round(h, v, sizes, samples[v.label], rng)
            samples[v.label].windows.append((round(began, 3), round(time.time(), 3)))
    return Measured(
        latency={v.label: summarise(v, samples[v.label], sizes) for v in variants},
        hashing=_throughput(hashing, sizes.concurrency),
        order=orders,
        path_floors={t: pathfloor.summarise(t, f.rounds, f.sent) for t, f in floors.items()},
    )
