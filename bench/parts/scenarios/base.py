"""What every scenario shares: observing awareness over time and summarising each consumer."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

from bench.harness import Harness, User
from bench.parts.scenarios.names import ScenarioId
from bench.results import ConsumerOutcome, ScenarioRun
from bench.variants import Variant
from common.settings import CONSUMER_SERVICES, Mode, Publish
from events.streams import longest_redelivery_s

# Counted from the service's database, so they survive its restart; the rest count in the process.
STORED_COUNTERS = ("provisioned_records", "known_users")
PROCESS_COUNTERS = ("duplicates_ignored", "unknown_user_refusals")
COUNTERS = STORED_COUNTERS + PROCESS_COUNTERS
# Modes whose transport redelivers, and how long its slowest redelivery can take.
REDELIVERING = (Mode.STREAMS, Mode.HYBRID)
REDELIVERY_S = longest_redelivery_s() + 1.0  # and a second for the outbox relay's backoff


@dataclass
class Size:
    """How big a scenario run is."""

    users: int
    settle_s: float
    quick: bool


@dataclass
class Observation:
    """The users of one scenario run and what each consumer knew of them over time."""

    h: Harness
    variant: Variant
    started: float = field(default_factory=time.monotonic)
    users: list[User] = field(default_factory=list)
    curves: dict[str, list[tuple[float, int]]] = field(default_factory=dict)
    figures: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    baseline: dict[str, dict[str, int]] = field(default_factory=dict)
    last_known: dict[str, dict[int, dict[str, Any]]] = field(default_factory=dict)

    @property
    def ids(self) -> set[int]:
        return {u.user_id for u in self.users}

    def elapsed(self) -> float:
        return round(time.monotonic() - self.started, 3)

    def mark(self, name: str) -> None:
        """Record when a phase of the scenario happened (seconds since its start)."""
        self.figures[f"t_{name}_s"] = self.elapsed()

    async def sample(self) -> None:
        """One awareness sample per consumer that answers."""
        ids = self.ids
        for service in CONSUMER_SERVICES:
            try:
                known = await self.h.known(service)
            except httpx.HTTPError:  # a stopped service simply has no sample
                continue
            self.last_known[service] = known
            self.curves.setdefault(service, []).append((self.elapsed(), len(ids & set(known))))

    def restarted(self, service: str, *, wiped: bool = False) -> None:
        """A restarted process counts from zero, so do its process counters' baselines; the
        stored ones keep theirs unless its database was wiped too."""
        before = self.baseline.get(service, {})
        kept = {} if wiped else {k: before.get(k, 0) for k in STORED_COUNTERS}
        self.baseline[service] = dict.fromkeys(COUNTERS, 0) | kept

    def consistent(self) -> bool:
        ids = self.ids
        return all(ids <= set(self.last_known.get(s, {})) for s in CONSUMER_SERVICES)

    def missing(self) -> dict[str, int]:
        """Users each consumer does not know yet."""
        ids = self.ids
        return {s: len(ids - set(self.last_known.get(s, {}))) for s in CONSUMER_SERVICES}


async def _counters(h: Harness) -> dict[str, dict[str, int]]:
    out = {}
    for service in CONSUMER_SERVICES:
        status = await h.status(service)
        out[service] = {k: int(status.get(k) or 0) for k in COUNTERS}
    return out


async def observe(
    h: Harness,
    variant: Variant,
    size: Size,
    body: Callable[[Observation], Awaitable[None]],
    interval: float = 0.1,
) -> ScenarioRun:
    """Run a scenario body while sampling awareness, then wait to settle and summarise."""
    await h.switch(variant)
    obs = Observation(h, variant)
    obs.baseline = await _counters(h)
    stop = asyncio.Event()

    async def sampler() -> None:
        while not stop.is_set():
            await obs.sample()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval)

    task = asyncio.create_task(sampler())
    first_check: dict[str, int] | None = None
    try:
        await body(obs)
        ended = time.monotonic()
        await settle(obs, ended + size.settle_s, interval)
        if not obs.consistent() and variant.mode in REDELIVERING:
            # A stream retries a failed delivery only after it has been idle: a slow but
            # eventual delivery must not be counted as lost, so look again after that.
            first_check = obs.missing()
            obs.figures["recheck_after_s"] = round(size.settle_s + REDELIVERY_S, 2)
            await settle(obs, ended + size.settle_s + REDELIVERY_S, interval)
    finally:
        stop.set()
        await task
    await obs.sample()
    run = await summarise(obs)
    for service, missed in (first_check or {}).items():
        run.consumers[service].missed_at_first_check = missed
    return run


async def settle(obs: Observation, deadline: float, interval: float) -> None:
    """Sample until every consumer knows every user, or the deadline."""
    while time.monotonic() < deadline:
        await obs.sample()
        if obs.consistent():
            return
        await asyncio.sleep(interval)


def time_to_consistent(curve: list[tuple[float, int]], total: int) -> float | None:
    """The first time from which every user stayed known, or None if never."""
    at = None
    for t, count in curve:
        at = (t if at is None else at) if count >= total else None
    return at


async def summarise(obs: Observation) -> ScenarioRun:
    """Per-consumer outcome of a finished scenario run."""
    after = await _counters(obs.h)
    ids = obs.ids
    consumers = {}
    for service in CONSUMER_SERVICES:
        base = obs.baseline.get(service, dict.fromkeys(COUNTERS, 0))
        delta = {k: after[service][k] - base[k] for k in COUNTERS}
        known = obs.last_known.get(service, {})
        known_ids = ids & set(known)
        consumers[service] = ConsumerOutcome(
            known=len(known_ids),
            missed=len(ids - known_ids),
            time_to_consistent_s=time_to_consistent(obs.curves.get(service, []), len(ids))
            if ids
            else 0.0,
            duplicates=max(0, delta["provisioned_records"] - delta["known_users"]),
            duplicates_ignored=delta["duplicates_ignored"],
            unknown_user_refusals=delta["unknown_user_refusals"],
            welcome_messages=delta["provisioned_records"],
            awareness=obs.curves.get(service, []),
            extra={"discovered_by": _by(known, known_ids)},
            missed_ids=sorted(ids - known_ids),
            lazy_ids=sorted(u for u in known_ids if known[u]["discovered_by"] == "lazy"),
        )
    return ScenarioRun(
        mode=obs.variant.mode.value,
        publish=obs.variant.publish.value if obs.variant.publish else None,
        users=len(ids),
        duration_s=obs.elapsed(),
        consumers=consumers,
        user_ids=sorted(ids),
        figures=obs.figures,
        notes=obs.notes,
    )


def _by(known: dict[int, dict[str, Any]], ids: set[int]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for uid in ids:
        how = str(known[uid]["discovered_by"])
        counts[how] = counts.get(how, 0) + 1
    return counts


class InEveryVariant:
    """A scenario that runs in each base variant, as most do."""

    def variants(self, base: list[Variant]) -> list[Variant]:
        return base


class ScenarioSpec(Protocol):
    """One scenario: its question, the variants it runs in, and how one run goes."""

    id: ScenarioId
    title: str
    question: str

    def variants(self, base: list[Variant]) -> list[Variant]:
        """The mode variants this scenario runs in."""

    async def run(self, h: Harness, variant: Variant, size: Size) -> ScenarioRun:
        """One run in one variant."""


def with_both_publishings(base: list[Variant]) -> list[Variant]:
    """Base variants plus the other publishing of pubsub and streams (direct vs outbox)."""
    out: list[Variant] = []
    for v in base:
        out.append(v)
        if v.mode in (Mode.PUBSUB, Mode.STREAMS):
            other = Publish.OUTBOX if v.publish is Publish.DIRECT else Publish.DIRECT
            twin = Variant(v.mode, other)
            if twin not in base and twin not in out:
                out.append(twin)
    return out


async def call_everyone(obs: Observation, label: str) -> dict[str, list[int]]:
    """Every scenario user logs in (if needed) and calls each consumer once."""
    need = [u for u in obs.users if u.token is None]
    if need:
        await obs.h.login(need)
    statuses = await obs.h.call_all([u for u in obs.users if u.token])
    obs.mark(label)
    for service, codes in statuses.items():
        obs.figures[f"{label}_{service}_statuses"] = status_counts(codes)
    return statuses


def status_counts(codes: list[int]) -> dict[str, int]:
    """How many replies had each status code, by code."""
    out: dict[str, int] = {}
    for code in codes:
        out[str(code)] = out.get(str(code), 0) + 1
    return dict(sorted(out.items()))
