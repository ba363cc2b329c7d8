"""The replicas scenario on PostgreSQL: two replicas per consumer in each event mode, and
registrations per second with one and with two auth processes (`bench --with scale`)."""

from __future__ import annotations

import asyncio
import os
import secrets
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench.environment import loadavg
from bench.harness import Harness, User, make_stack
from bench.results import AuthScaling, ReplicaLoad, ReplicaResults
from bench.variants import Variant
from common.db import drop_pg_database, ensure_pg_database
from common.settings import CONSUMER_SERVICES, parse_replica

VARIANTS = ("pubsub+direct", "streams+outbox", "hybrid+outbox")
AUTH_VARIANT = "streams+outbox"  # the outbox: both relays claim rows from one table
COUNTERS = ("events_received", "event_provisions", "duplicates_ignored", "calls_served")
PG_SERVER = "postgresql://postgres@127.0.0.1:5432"
REPLICAS = 2
SETTLE_S = 30.0  # how long events may take to reach every replica before the run gives up
Progress = Callable[[str], None]


@dataclass(frozen=True)
class ReplicaPlan:
    """How big a replicas run is; rounds × per_round registrations behind each auth figure."""

    users: int = 24  # per consumer variant
    rounds: int = 4
    per_round: int = 30
    concurrency: int = 8

    @classmethod
    def make(cls, quick: bool) -> ReplicaPlan:
        return cls(users=6, rounds=2, per_round=6, concurrency=4) if quick else cls()

    @property
    def steps(self) -> int:
        """Progress lines a run announces: the start, each variant, each auth round."""
        return 1 + len(VARIANTS) + 2 * self.rounds


def expectation(variant: Variant) -> str:
    """What the mode promises about the replicas of one consumer."""
    if variant.mode.transport == "pubsub":
        return "every replica receives every event"
    return "each event reaches one replica"


async def _counters(h: Harness, names: list[str]) -> dict[str, dict[str, int]]:
    out = {}
    for name in names:
        status = await h.status(name)
        out[name] = {k: int(status.get(k) or 0) for k in COUNTERS}
    return out


async def _records(h: Harness) -> dict[str, int]:
    return {s: int((await h.status(s))["provisioned_records"]) for s in CONSUMER_SERVICES}


async def _known(h: Harness, ids: set[int]) -> dict[str, Counter[int]]:
    """How often each user appears in each consumer's list, once every consumer lists every
    user (or the deadline passed)."""
    deadline = time.monotonic() + SETTLE_S
    while True:
        counts = {
            s: Counter(
                int(u["user_id"]) for u in (await h.internal(s, "GET", "known-users"))["users"]
            )
            for s in CONSUMER_SERVICES
        }
        if all(ids <= set(c) for c in counts.values()) or time.monotonic() > deadline:
            return counts
        await asyncio.sleep(0.1)


def _delta(
    after: dict[str, dict[str, int]], before: dict[str, dict[str, int]]
) -> dict[str, dict[str, int]]:
    return {n: {k: after[n][k] - before[n][k] for k in COUNTERS} for n in after}


def _met(variant: Variant, users: int, load: dict[str, dict[str, int]]) -> bool:
    """The mode's promise about replicas holds for these per-replica counts."""
    for service in CONSUMER_SERVICES:
        mine = [c for n, c in load.items() if parse_replica(n)[0] == service]
        provisions = sum(c["event_provisions"] for c in mine)
        if variant.mode.transport == "pubsub":
            ok = all(c["events_received"] == users for c in mine)
        else:
            ok = sum(c["events_received"] for c in mine) == users
            ok = ok and sum(c["duplicates_ignored"] for c in mine) == 0
        if not ok or provisions != users:
            return False
    return True


async def consumer_load(h: Harness, variant: Variant, plan: ReplicaPlan) -> ReplicaLoad:
    """Register users in one mode, let the events settle, call every consumer once per user
    through the gateway, and read what each replica received, handled and served."""
    await h.switch(variant)
    names = [p.name for p in h.stack.specs() if parse_replica(p.name)[0] in CONSUMER_SERVICES]
    before, records = await _counters(h, names), await _records(h)
    users = await h.register(plan.users, concurrency=plan.concurrency, prefix="replica")
    ids = {u.user_id for u in users}
    await _known(h, ids)
    want = len(users) * (REPLICAS if variant.mode.transport == "pubsub" else 1)
    deadline = time.monotonic() + SETTLE_S
    while time.monotonic() < deadline:  # the copies that a second replica receives
        load = _delta(await _counters(h, names), before)
        if sum(c["events_received"] for c in load.values()) >= want * len(CONSUMER_SERVICES):
            break
        await asyncio.sleep(0.1)
    await h.login(users)
    await h.call_all(users)
    load = _delta(await _counters(h, names), before)
    after = await _records(h)
    return ReplicaLoad(
        variant=variant.label,
        users=len(users),
        replicas=load,
        expected=expectation(variant),
        met=_met(variant, len(users), load),
        records_per_user={
            s: round((after[s] - records[s]) / max(1, len(users)), 3) for s in CONSUMER_SERVICES
        },
    )


async def auth_scaling(h: Harness, plan: ReplicaPlan, progress: Progress) -> AuthScaling:
    """Rounds of registrations through the gateway with auth-2 stopped (one auth process) and
    running (two), in alternating order; then every user must be in every consumer once."""
    variant = Variant.parse(AUTH_VARIANT)
    await h.switch(variant)
    records = await _records(h)
    rates: dict[str, list[float]] = {"1": [], "2": []}
    registered = dict.fromkeys(rates, 0)
    failed = dict.fromkeys(rates, 0)
    per_process = {"auth": 0, "auth-2": 0}
    users: list[User] = []
    for r in range(plan.rounds):
        for n in ("1", "2") if r % 2 == 0 else ("2", "1"):
            if n == "1":
                await h.stop("auth-2")
            else:
                await h.start("auth-2")
            running = list(per_process) if n == "2" else ["auth"]
            before = {a: int((await h.status(a))["registrations"]) for a in running}
            started = time.perf_counter()
            got = await h.register(plan.per_round, concurrency=plan.concurrency, prefix=f"a{n}")
            elapsed = time.perf_counter() - started
            rates[n].append(round(len(got) / elapsed, 2))
            registered[n] += len(got)
            failed[n] += plan.per_round - len(got)
            if n == "2":
                for a in running:
                    per_process[a] += int((await h.status(a))["registrations"]) - before[a]
            users.extend(got)
            progress(f"replicas: round {r + 1}, {n} auth: {rates[n][-1]} registrations/s")
    await h.start("auth-2")
    ids = {u.user_id for u in users}
    counts = await _known(h, ids)
    after = await _records(h)
    return AuthScaling(
        rates=rates,
        registered=registered,
        failed=failed,
        per_process=per_process,
        exactly_once={
            s: all(counts[s][uid] == 1 for uid in ids) and after[s] - records[s] == len(ids)
            for s in CONSUMER_SERVICES
        },
        variant=variant.label,
        concurrency=plan.concurrency,
    )


async def run(
    plan: ReplicaPlan, server: str = PG_SERVER, progress: Progress = print
) -> ReplicaResults:
    """Both parts on one stack: PostgreSQL databases of their own, two replicas per consumer,
    two auth processes; the databases are dropped afterwards."""
    tag = secrets.token_hex(4)
    urls = {
        f"{s.upper()}_DATABASE_URL": f"{server}/lab_bench_{tag}_{s}"
        for s in ("auth", *CONSUMER_SERVICES)
    }
    load_before = loadavg()
    try:
        for url in urls.values():
            ensure_pg_database(url)
        with tempfile.TemporaryDirectory(prefix="lab-replicas-") as tmp:
            stack = make_stack(
                Path(tmp) / "state", LAB_REPLICAS=str(REPLICAS), LAB_AUTH_REPLICAS="2", **urls
            )
            h = Harness(stack)
            try:
                progress("replicas: starting two auth processes and two replicas per consumer")
                await asyncio.to_thread(stack.up)
                consumers = []
                for label in VARIANTS:
                    progress(f"replicas: {label} on {REPLICAS} replicas per consumer")
                    consumers.append(await consumer_load(h, Variant.parse(label), plan))
                auth = await auth_scaling(h, plan, progress)
                settings = stack.settings
            finally:
                await h.close()
                await asyncio.to_thread(stack.down)
    finally:
        for url in urls.values():
            drop_pg_database(url)
    return ReplicaResults(
        consumers=consumers,
        auth=auth,
        environment={
            "cpus": os.cpu_count(),
            "loadavg_before": load_before,
            "loadavg_after": loadavg(),
            "database": "PostgreSQL (one server, a database per service)",
            "argon2": f"t={settings.lab_argon2_time_cost}, m={settings.lab_argon2_memory_kib} KiB, "
            f"p={settings.lab_argon2_parallelism}",
            "hash_workers": settings.lab_hash_workers or "one per CPU, per auth process",
            "plan": plan.__dict__,
        },
    )
