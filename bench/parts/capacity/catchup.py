"""Catch-up: a consumer comes back to a backlog of stream entries (`bench --with capacity`).

A real valkey-server with the stack's ACL users runs in a temporary state dir. The backlog is
user.registered events built and signed exactly as auth publishes them (the event model, the
signing function and auth's key store), appended with XADD as the admin user. On that stream:

- the floor: raw XREADGROUP batches of the same size through every entry (no decoding), plus
  one bulk insert of the same rows into the same kind of store (a fresh SQLite file with the
  consumers' schema and pragmas: one executemany per table in one transaction). It is measured
  before and after the consumer, and the faster one is the floor;
- the verified floor: the floor plus checking every entry as the consumer must (signature and
  event model, the consumer's own batch verification and signature-checking child process), so
  the report can tell the price of the signatures from the consumer's own overhead;
- the consumer: the streams discovery of a profiles consumer, built as its process builds it
  (settings, SQLite engine, JWKS verifier, counters, known-user cache), in this process,
  against the same Valkey as the profiles ACL user. Every event is verified; each batch is
  applied in one transaction and acknowledged with one XACK.

Then, as stages: verifying one event, and applying a batch, on a sample of the same entries.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import valkey.asyncio as avalkey

from auth.keys import KeyStore
from bench.environment import loadavg
from bench.harness import make_stack
from bench.results import CatchUp, Stats
from common.db import make_engine
from common.settings import Settings
from common.tokens import Verifier
from consumers import store
from consumers.discovery.base import Context, KnownCache
from consumers.discovery.base import Stats as Counters
from consumers.discovery.streams import StreamsDiscovery
from consumers.profiles import ProfilesSpec
from events import names, signing
from events.checking import CheckerProcesses, here
from events.model import user_event
from events.signing import KeyLookup
from lab.processes import Stack

FLOOR_GROUP = "catchup-floor"
TARGET_RATIO = 0.3  # of the floor
TARGET_EVENTS_PER_S = 5000.0  # per consumer, on SQLite
STAGE_SAMPLE = 5000  # entries timed stage by stage after the run
WRITE_CHUNK = 1000  # XADDs per pipeline round trip when the backlog is written


@dataclass(frozen=True)
class Plan:
    """How big a catch-up run is."""

    events: int
    batch: int

    @classmethod
    def make(cls, quick: bool) -> Plan:
        return cls(events=10_000 if quick else 100_000, batch=Settings().lab_stream_batch)


def _sign_range(keys_dir: str, alg: str, first: int, count: int) -> list[str]:
    """Signed user.registered events for users first..first+count-1, as auth publishes them."""
    key = KeyStore(Path(keys_dir), alg, 900).active
    out = []
    for user_id in range(first, first + count):
        name = f"catchup-{user_id}"
        event = user_event(
            names.USER_REGISTERED,
            user_id,
            name,
            attributes={"display_name": name, "plan": "free"},
            version=1,
        )
        out.append(signing.sign(event, key))
    return out


def sign_backlog(settings: Settings, events: int) -> list[str]:
    """Every event of the backlog, signed on every core (signing is the slow part of set-up)."""
    KeyStore(settings.keys_dir, settings.lab_jwt_alg.value, settings.lab_token_ttl)
    workers = max(1, os.cpu_count() or 1)
    step = -(-events // workers)
    firsts = range(1, events + 1, step)
    with ProcessPoolExecutor(workers) as pool:
        chunks = pool.map(
            _sign_range,
            [str(settings.keys_dir)] * len(firsts),
            [settings.lab_jwt_alg.value] * len(firsts),
            firsts,
            [min(step, events + 1 - f) for f in firsts],
        )
        return [message for chunk in chunks for message in chunk]


async def write_backlog(admin: avalkey.Valkey, messages: list[str]) -> None:
    """XADD every message as the admin user, a pipeline of WRITE_CHUNK at a time."""
    for start in range(0, len(messages), WRITE_CHUNK):
        pipe = admin.pipeline(transaction=False)
        for message in messages[start : start + WRITE_CHUNK]:
            pipe.xadd(names.STREAM, {names.STREAM_FIELD: message})
        await pipe.execute()


async def floor_read(admin: avalkey.Valkey, batch: int, group: str) -> tuple[int, float]:
    """(entries, seconds): raw XREADGROUP batches through the whole stream, nothing decoded."""
    await admin.xgroup_create(names.STREAM, group, id="0")
    read = 0
    started = time.perf_counter()
    while True:
        reply = await admin.xreadgroup(group, "floor", {names.STREAM: ">"}, count=batch)
        entries = reply[0][1] if reply else []
        if not entries:
            return read, time.perf_counter() - started
        read += len(entries)


def floor_insert(path: Path, events: int) -> float:
    """Seconds to insert the consumer's rows for `events` users in one transaction: one
    executemany per table with the raw driver, into a fresh file with the same schema."""
    engine = make_engine(f"sqlite:///{path}")
    store.create_schema(engine, ProfilesSpec())
    engine.dispose()
    now = datetime.now(UTC).isoformat()
    known_rows = [
        (i, f"catchup-{i}", "event", now, 1, '{"display_name":"x","plan":"free"}', 1, now)
        for i in range(1, events + 1)
    ]
    profile_rows = [(i, f"catchup-{i}", "", now) for i in range(1, events + 1)]
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        started = time.perf_counter()
        with conn:
            conn.executemany(
                "INSERT INTO known_users (user_id, username, discovered_by, "
                "known_since, active, attributes, attributes_version, attributes_seen_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                known_rows,
            )
            conn.executemany(
                "INSERT INTO profiles (user_id, display_name, bio, created_at) "
                "VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                profile_rows,
            )
        return time.perf_counter() - started
    finally:
        conn.close()


async def floor_verify(messages: list[str], keys: KeyLookup, plan: Plan, processes: int) -> float:
    """Seconds to verify every message in batches, as a consumer does (its checker included)."""
    checker = CheckerProcesses(processes) if processes else None
    try:
        await signing.verify_many(messages[: plan.batch], keys, checker or here)  # start-up
        started = time.perf_counter()
        for start in range(0, len(messages), plan.batch):
            outcomes = await signing.verify_many(
                messages[start : start + plan.batch], keys, checker or here
            )
            assert not any(isinstance(o, Exception) for o in outcomes), "a backlog event failed"
        return time.perf_counter() - started
    finally:
        if checker is not None:
            await checker.aclose()


async def measure_floor(
    admin: avalkey.Valkey, ctx: Context, messages: list[str], plan: Plan, attempt: int
) -> dict[str, float]:
    """One floor measurement: read, verify and insert seconds, and events/s over read and
    insert (the floor) and over all three (the verified floor)."""
    read, read_s = await floor_read(admin, plan.batch, f"{FLOOR_GROUP}-{attempt}")
    assert read == plan.events, f"the floor read {read} of {plan.events} entries"
    path = ctx.settings.state_dir / f"floor-{attempt}.sqlite3"
    insert_s = await asyncio.to_thread(floor_insert, path, plan.events)
    processes = ctx.settings.lab_verify_processes
    verify_s = await floor_verify(messages, ctx.keys, plan, processes)
    return {
        "read_s": round(read_s, 4),
        "insert_s": round(insert_s, 4),
        "verify_s": round(verify_s, 4),
        "events_per_s": round(plan.events / (read_s + insert_s), 1),
        "verified_events_per_s": round(plan.events / (read_s + verify_s + insert_s), 1),
    }


def consumer_context(settings: Settings, keystore: KeyStore) -> Context:
    """The profiles consumer's context as its lifespan builds it; the JWKS comes from auth's
    key store instead of over HTTP (fetched once, then cached by the verifier as usual)."""

    async def jwks() -> Mapping[str, Any]:
        return keystore.jwks()

    verifier = Verifier(
        jwks,
        settings.lab_issuer,
        settings.lab_audience,
        max_lifetime=settings.lab_token_ttl,
        leeway=settings.lab_clock_leeway,
        jwks_ttl=settings.lab_jwks_cache_ttl,
        cache_size=settings.lab_token_cache_size,
    )
    spec = ProfilesSpec()
    engine = make_engine(settings.database_url(spec.name))
    store.create_schema(engine, spec)
    return Context(
        settings=settings,
        spec=spec,
        engine=engine,
        replica=spec.name,
        stats=Counters(),
        cache=KnownCache.from_settings(settings),
        keys=verifier.key,
    )


async def run_consumer(ctx: Context, events: int) -> tuple[float, list[float], StreamsDiscovery]:
    """(seconds until every entry is acknowledged, milliseconds per batch, the discovery)."""
    discovery = StreamsDiscovery(ctx)
    batches: list[float] = []
    done = asyncio.Event()

    def on_batch(count: int, seconds: float) -> None:
        batches.append(seconds * 1000)
        consumer = discovery.consumer
        if consumer.processed + consumer.dead_lettered >= events:
            done.set()

    discovery.consumer.on_batch = on_batch
    started = time.perf_counter()
    await discovery.start()
    try:
        await asyncio.wait_for(done.wait(), timeout=max(120.0, events / 200))
        elapsed = time.perf_counter() - started
    finally:
        await discovery.stop()
    return elapsed, batches, discovery


async def stage_costs(ctx: Context, messages: list[str], batch: int) -> dict[str, float]:
    """Microseconds per event of each stage, on a sample: verify one event at a time on the
    event loop (JSON, signature, model), and apply (one transaction per batch, into a fresh
    database)."""
    sample = messages[:STAGE_SAMPLE]
    started = time.perf_counter()
    decoded = [await signing.verify(raw, ctx.keys) for raw in sample]
    verify_s = time.perf_counter() - started
    engine = make_engine(f"sqlite:///{ctx.settings.state_dir / 'stages.sqlite3'}")
    await asyncio.to_thread(store.create_schema, engine, ctx.spec)
    started = time.perf_counter()
    for start in range(0, len(decoded), batch):
        await asyncio.to_thread(
            store.apply_events, engine, ctx.spec, decoded[start : start + batch]
        )
    apply_s = time.perf_counter() - started
    engine.dispose()
    return {
        "verify_us": round(verify_s / len(sample) * 1e6, 1),
        "apply_us": round(apply_s / len(sample) * 1e6, 1),
    }


async def _measure(stack: Stack, plan: Plan) -> CatchUp:
    settings = stack.settings
    keystore = KeyStore(settings.keys_dir, settings.lab_jwt_alg.value, settings.lab_token_ttl)
    signing_started = time.perf_counter()
    messages = await asyncio.to_thread(sign_backlog, settings, plan.events)
    sign_s = time.perf_counter() - signing_started
    admin = avalkey.Valkey.from_url(settings.effective_valkey_url)
    try:
        await write_backlog(admin, messages)
        assert await admin.xlen(names.STREAM) == plan.events
        load_before = loadavg()
        ctx = await asyncio.to_thread(consumer_context, settings, keystore)
        floors = [await measure_floor(admin, ctx, messages, plan, 1)]
        elapsed, batches, discovery = await run_consumer(ctx, plan.events)
        floors.append(await measure_floor(admin, ctx, messages, plan, 2))
        load_after = loadavg()
        pending = int((await admin.xpending(names.STREAM, ctx.spec.name))["pending"])
    finally:
        await admin.aclose()
    known = await asyncio.to_thread(store.count_known, ctx.engine)
    records = await asyncio.to_thread(ctx.spec.count, ctx.engine)
    stages = await stage_costs(ctx, messages, plan.batch)
    ctx.engine.dispose()
    rate = plan.events / elapsed
    floor = max(floors, key=lambda f: f["events_per_s"])
    verified = max(f["verified_events_per_s"] for f in floors)
    return CatchUp(
        events=plan.events,
        batch=plan.batch,
        events_per_s=round(rate, 1),
        seconds=round(elapsed, 3),
        floor_events_per_s=floor["events_per_s"],
        floors=floors,
        ratio=round(rate / floor["events_per_s"], 3),
        verified_floor_events_per_s=verified,
        verified_ratio=round(rate / verified, 3),
        target_ratio=TARGET_RATIO,
        target_events_per_s=TARGET_EVENTS_PER_S,
        batch_ms=Stats.of(batches),
        stages_us=stages,
        known_users=known,
        records=records,
        pending_after=pending,
        dead_lettered=discovery.consumer.dead_lettered,
        event_bytes=round(sum(map(len, messages)) / len(messages)),
        environment={
            "cpu_count": os.cpu_count(),
            "loadavg_before": load_before,
            "loadavg_after": load_after,
            "jwt_alg": settings.lab_jwt_alg.value,
            "verify_processes": settings.lab_verify_processes,
            "store": "sqlite",
            "backlog_signing_s": round(sign_s, 1),
        },
    )


def measure(plan: Plan, stack_env: Mapping[str, str] | None = None) -> CatchUp:
    """Start a Valkey in a temporary state dir, measure, stop it and remove the dir."""
    state = Path(tempfile.mkdtemp(prefix="lab-catchup-")) / "state"
    stack = make_stack(state, LAB_STREAM_BATCH=str(plan.batch), **(stack_env or {}))
    try:
        stack.start("valkey")
        return asyncio.run(_measure(stack, plan))
    finally:
        stack.stop("valkey")
        shutil.rmtree(state.parent, ignore_errors=True)


def summary(result: CatchUp) -> str:
    """One paragraph for a terminal."""
    return (
        f"catch-up of {result.events:,} events, batches of {result.batch}: "
        f"{result.events_per_s:,.0f} events/s in {result.seconds:.2f} s; floor "
        f"{result.floor_events_per_s:,.0f} events/s; ratio {result.ratio:.3f} "
        f"(target ≥ {result.target_ratio}); verified floor "
        f"{result.verified_floor_events_per_s:,.0f} events/s, ratio {result.verified_ratio:.3f}; "
        f"per batch p50 {result.batch_ms.p50:.1f} ms, "
        f"p99 {result.batch_ms.p99:.1f} ms (n={result.batch_ms.n}); stages per event: "
        f"verify {result.stages_us['verify_us']} µs, apply {result.stages_us['apply_us']} µs"
    )
