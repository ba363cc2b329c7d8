"""The failover benchmark on an embedded Valkey Cluster (`bench --with scale`)."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Any

from bench.harness import Harness, Variant, make_stack
from bench.parts.scenarios.base import Size
from bench.parts.scenarios.failover import FAULTS, Failover
from lab.net import free_port_run
from lab.valkey_cluster import NODES

VARIANTS = ("pubsub+direct", "pubsub+outbox", "streams+direct", "streams+outbox", "hybrid+outbox")
# Durability options for the stream, as auth settings; both change only outbox publishing.
DURABILITY: dict[str, dict[str, str]] = {
    "none": {"LAB_STREAM_WAIT_REPLICAS": "", "LAB_OUTBOX_RESEND_WINDOW": ""},
    "wait": {"LAB_STREAM_WAIT_REPLICAS": "1", "LAB_OUTBOX_RESEND_WINDOW": ""},
    "resend": {"LAB_STREAM_WAIT_REPLICAS": "", "LAB_OUTBOX_RESEND_WINDOW": "2"},
}
CHANGED_BY_DURABILITY = ("streams+outbox", "hybrid+outbox")


async def run(
    variants: list[Variant],
    faults: list[str],
    options: list[str],
    size: Size,
    after_s: float,
) -> list[dict[str, Any]]:
    """Every (durability option, fault, variant) once on one cluster stack; a row per run."""
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="lab-failover-") as tmp:
        stack = make_stack(
            Path(tmp) / "state", LAB_VALKEY="cluster", VALKEY_PORT=str(free_port_run(NODES))
        )
        h = Harness(stack)
        try:
            await asyncio.to_thread(stack.up)
            for option in options:
                await h.restart_auth(**DURABILITY[option])
                for fault in faults:
                    for variant in variants:
                        if option != "none" and variant.label not in CHANGED_BY_DURABILITY:
                            continue
                        scenario = Failover(fault, after_s=after_s)
                        result = await scenario.run(h, variant, size)
                        rows.append(
                            {"variant": variant.label, "durability": option, **_row(result)}
                        )
        finally:
            await h.close()
            await asyncio.to_thread(stack.down)
    return rows


def _row(result: Any) -> dict[str, Any]:
    consumers = result.consumers
    return {
        **result.figures,
        "missed": {s: c.missed for s, c in consumers.items()},
        "duplicates_ignored": {s: c.duplicates_ignored for s, c in consumers.items()},
        "duplicates": {s: c.duplicates for s, c in consumers.items()},
    }


COLUMNS = [
    "fault",
    "variant",
    "durability",
    "registered",
    "failed",
    "missed (both consumers)",
    "duplicates ignored",
    "second users",
    "propagation resumed s",
    "consistent s after the last registration",
    "latency before ms (median / max)",
    "latency after ms (median / max)",
]


def cells(row: dict[str, Any]) -> list[str]:
    """One run's figures, in COLUMNS order."""
    consistent = row["consistent_after_last_registration_s"].values()
    worst = None if None in consistent else max(consistent, default=0.0)
    before, after = row["latency_before"], row["latency_after"]
    return [
        str(row["fault"]),
        str(row["variant"]),
        str(row["durability"]),
        str(row["registered"]),
        str(row["registrations_failed"]),
        str(sum(row["missed"].values())),
        str(sum(row["duplicates_ignored"].values())),
        str(sum(row["duplicates"].values())),
        str(row["propagation_resumed_s"]),
        str(worst),
        f"{before.get('median_ms')} / {before.get('max_ms')}",
        f"{after.get('median_ms')} / {after.get('max_ms')}",
    ]


def sizes(quick: bool) -> tuple[Size, float]:
    """How long each run settles, and when the fault comes (seconds into the registrations)."""
    return Size(users=0, settle_s=10.0 if quick else 20.0, quick=quick), 6.0 if quick else 10.0


async def run_all(quick: bool) -> list[dict[str, Any]]:
    """What `bench --with scale` measures: every variant and durability option; kill -9 only with
    quick, the manual failover too otherwise."""
    variants = [Variant.parse(label) for label in VARIANTS]
    faults = ["kill"] if quick else list(FAULTS)
    return await run(variants, faults, list(DURABILITY), *sizes(quick))
