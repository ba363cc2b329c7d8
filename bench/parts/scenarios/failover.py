"""Failover: the primary holding the stream's slot dies (or hands over) while users register."""

from __future__ import annotations

import asyncio
import statistics
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
import valkey

from bench.harness import Harness, User, Variant
from bench.parts.scenarios.base import InEveryVariant, Observation, Size, observe
from bench.parts.scenarios.names import ScenarioId
from bench.results import ScenarioRun
from common.settings import CONSUMER_SERVICES
from events import names

FAULTS = ("kill", "manual")  # kill -9 the primary, or CLUSTER FAILOVER on its replica


@dataclass
class Registrations:
    """Registrations sent back to back while the fault happens: when, how long, what answer."""

    users: list[User] = field(default_factory=list)
    sent_at: dict[int, float] = field(default_factory=dict)  # user_id -> wall clock when sent
    latencies_ms: list[tuple[float, float]] = field(default_factory=list)  # (sent, ms)
    failed: int = 0

    def latency(self, *, before: float | None = None, after: float | None = None) -> list[float]:
        """Latencies of registrations sent before (or after) a wall-clock time."""
        return [
            ms
            for sent, ms in self.latencies_ms
            if (before is None or sent < before) and (after is None or sent >= after)
        ]


async def register_until(h: Harness, stop: asyncio.Event, out: Registrations) -> None:
    """One registration after another until stop is set."""
    while not stop.is_set():
        sent, started = time.time(), time.perf_counter()
        try:
            _, user = await h.register_one()
        except httpx.HTTPError:  # auth or the gateway is mid-failover
            user = None
        out.latencies_ms.append((sent, (time.perf_counter() - started) * 1000))
        if user is None:
            out.failed += 1
            await asyncio.sleep(0.05)
            continue
        out.users.append(user)
        out.sent_at[user.user_id] = sent


def stream_primary(h: Harness) -> str:
    """The process name of the primary that holds the stream's slot; with the classic
    channel this node is also one that every PUBLISH crosses."""
    cluster = h.stack.embedded_cluster()
    if cluster is None:
        raise RuntimeError("the failover scenario needs `up --valkey cluster`")
    client = valkey.Valkey.from_url(cluster.node_urls[0], decode_responses=True)
    try:
        slot = int(client.execute_command("CLUSTER KEYSLOT", names.STREAM))
        for start, end, primary, *_ in client.execute_command("CLUSTER SLOTS"):
            if start <= slot <= end:
                port = int(primary[1])
                return next(p.name for p in h.stack.specs() if p.port == port)
    finally:
        client.close()
    raise RuntimeError(f"no primary holds slot {slot}")


def manual_failover(h: Harness, primary: str) -> None:
    """CLUSTER FAILOVER on the replica of the named primary: a handover without data loss."""
    cluster = h.stack.embedded_cluster()
    assert cluster is not None
    port = h.stack.spec(primary).port
    for url in cluster.node_urls:
        client = valkey.Valkey.from_url(url, decode_responses=True)
        try:
            info = client.execute_command("INFO", "replication")
            if info.get("role") == "slave" and int(info.get("master_port", 0)) == port:
                client.execute_command("CLUSTER FAILOVER")
                return
        finally:
            client.close()
    raise RuntimeError(f"no replica of {primary} found")


async def heal(h: Harness, name: str) -> None:
    """Bring the killed node back (it rejoins as a replica) and wait until the cluster is whole."""
    await h.start(name)
    cluster = h.stack.embedded_cluster()
    assert cluster is not None
    await asyncio.to_thread(cluster.wait_ready, 60.0)


def propagation_resumed(obs: Observation, regs: Registrations, fault_at: float) -> float | None:
    """Seconds from the fault until the first user registered after it was known everywhere."""
    best: float | None = None
    for user_id, sent in regs.sent_at.items():
        if sent < fault_at:
            continue
        seen = []
        for service in CONSUMER_SERVICES:
            row = obs.last_known.get(service, {}).get(user_id)
            if row is None:
                break
            seen.append(datetime.fromisoformat(row["known_since"]).timestamp())
        else:
            at = max(seen) - fault_at
            best = at if best is None else min(best, at)
    return None if best is None else round(best, 3)


def latency_figures(samples: list[float]) -> dict[str, Any]:
    """Median and max of registration latency, in ms."""
    if not samples:
        return {"n": 0}
    return {
        "n": len(samples),
        "median_ms": round(statistics.median(samples), 1),
        "max_ms": round(max(samples), 1),
    }


class Failover(InEveryVariant):
    """Kill -9 (or fail over by hand) the stream's primary with registrations in flight."""

    id = ScenarioId.VALKEY_KILLED
    title = "Failover"
    question = (
        "On a Valkey Cluster, the primary that holds the stream's slot fails while users "
        "register. Who is missed for good, how many duplicates are handled, and how long "
        "until events flow and every service is consistent again?"
    )

    def __init__(self, fault: str = "kill", before_s: float = 3.0, after_s: float = 6.0) -> None:
        if fault not in FAULTS:
            raise ValueError(f"fault must be one of {FAULTS}")
        self.fault = fault
        self.before_s = before_s
        self.after_s = after_s

    async def run(self, h: Harness, variant: Variant, size: Size) -> ScenarioRun:
        regs = Registrations()

        async def body(obs: Observation) -> None:
            name = await asyncio.to_thread(stream_primary, h)
            regs.users = obs.users  # sampled live, so the curves cover the fault
            stop = asyncio.Event()
            loops = [asyncio.create_task(register_until(h, stop, regs)) for _ in range(2)]
            try:
                await asyncio.sleep(self.before_s)
                obs.mark("fault")
                fault_at = time.time()
                if self.fault == "kill":
                    await asyncio.to_thread(h.stack.stop, name, 1.0, True)
                else:
                    await asyncio.to_thread(manual_failover, h, name)
                await asyncio.sleep(self.after_s)
            finally:
                stop.set()
                await asyncio.gather(*loops)
            obs.mark("last_registration")
            obs.figures["fault"] = self.fault
            obs.figures["node"] = name
            obs.figures["registered"] = len(regs.users)
            obs.figures["registrations_failed"] = regs.failed
            obs.figures["latency_before"] = latency_figures(regs.latency(before=fault_at))
            obs.figures["latency_after"] = latency_figures(regs.latency(after=fault_at))
            obs.figures["fault_at"] = fault_at
            if self.fault == "kill":
                await heal(h, name)

        run = await observe(h, variant, size, body)
        fault_at = float(run.figures.pop("fault_at"))
        last = Observation(h, variant)
        await last.sample()
        run.figures["propagation_resumed_s"] = propagation_resumed(last, regs, fault_at)
        # Registrations go on after the fault, so "consistent again" counts from the last one.
        stopped_t = float(run.figures.get("t_last_registration_s", 0.0))
        run.figures["consistent_after_last_registration_s"] = {
            service: (
                None
                if outcome.time_to_consistent_s is None
                else round(max(0.0, outcome.time_to_consistent_s - stopped_t), 3)
            )
            for service, outcome in run.consumers.items()
        }
        return run
