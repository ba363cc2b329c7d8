"""The report's sections beyond one machine: consumer and auth replicas, and failover on a
Valkey Cluster; each appears when its part ran (`bench --with scale`)."""

from __future__ import annotations

from statistics import median

from bench.parts.scale.failover import COLUMNS, cells
from bench.report import Block, Heading, Para, T, Table, fmt_value
from bench.results import ReplicaResults, Results

LOAD_HEADERS = [
    "variant",
    "replica",
    "events received",
    "users provisioned from events",
    "duplicates ignored",
    "calls served",
]


def _load_rows(results: ReplicaResults) -> list[list[T]]:
    rows = []
    for run in results.consumers:
        for name, counts in run.replicas.items():
            rows.append(
                [T(run.variant), T(name)]
                + [T(str(counts[k])) for k in ("events_received", "event_provisions")]
                + [T(str(counts[k])) for k in ("duplicates_ignored", "calls_served")]
            )
    return rows


def _promise_items(results: ReplicaResults) -> list[Block]:
    blocks: list[Block] = []
    for run in results.consumers:
        records = ", ".join(f"{s} {v:g}" for s, v in run.records_per_user.items())
        verdict = "holds" if run.met else "DOES NOT HOLD"
        blocks.append(
            Para(
                f"{run.variant}, {run.users} users: {run.expected}: {verdict}; records per user "
                f"(1 is exactly once): {records}.",
                "met" if run.met else "miss",
            )
        )
    return blocks


def _auth_rows(results: ReplicaResults) -> list[list[T]]:
    auth = results.auth
    rows = []
    for n, rates in auth.rates.items():
        rows.append(
            [
                T(n),
                T(fmt_value(median(rates)) if rates else "—"),
                T(", ".join(fmt_value(r) for r in rates)),
                T(str(auth.registered[n])),
                T(str(auth.failed[n])),
            ]
        )
    return rows


def auth_summary(results: ReplicaResults) -> str:
    """The two-process figure against the one-process figure, and who served what."""
    auth = results.auth
    one, two = (median(auth.rates[n]) if auth.rates.get(n) else 0.0 for n in ("1", "2"))
    ratio = f"{two / one:.2f}×" if one else "n/a"
    served = ", ".join(f"{name} {count}" for name, count in auth.per_process.items())
    once = ", ".join(f"{s} {'yes' if ok else 'NO'}" for s, ok in auth.exactly_once.items())
    env = results.environment
    load = env.get("loadavg_before") or ["?"]
    first = fmt_value(round(load[0], 2)) if isinstance(load[0], float) else str(load[0])
    return (
        f"Two auth processes register {ratio} as many users per second as one (medians of "
        f"interleaved rounds, {auth.concurrency} registrations in flight, {auth.variant}). "
        f"Argon2id hashing is CPU bound and this machine has {env.get('cpus')} CPUs (1-minute "
        f"load average {first} when the run began), so a second process adds hashing threads "
        "and a larger share of a shared machine, not cores. In the two-process rounds the "
        f"gateway's round robin gave: {served}. Every user exactly once in every consumer: "
        f"{once}."
    )


def replicas_blocks(results: ReplicaResults) -> list[Block]:
    """The replicas scenario's tables, with no section heading."""
    return [
        Para(
            "Two replicas per consumer, on PostgreSQL, in each event mode: users registered "
            "through the gateway, then each calls every consumer once through it. Counters are "
            "each replica's own; a duplicate is an event a replica received for a user that the "
            "other replica had already provisioned (the consumers are idempotent)."
        ),
        Table(LOAD_HEADERS, _load_rows(results), "Load on each consumer replica"),
        *_promise_items(results),
        Table(
            ["auth processes", "registrations/s (median)", "per round", "registered", "failed"],
            _auth_rows(results),
            "Registrations per second through the gateway with one and two auth processes",
        ),
        Para(auth_summary(results)),
    ]


def replicas_section(results: Results) -> list[Block]:
    """The replicas section, when `bench --with scale` ran."""
    if results.replicas is None:
        return []
    return [
        Heading(2, "Replicas: consumers and auth processes", "replicas"),
        *replicas_blocks(results.replicas),
    ]


def failover_section(results: Results) -> list[Block]:
    """The failover section, when `bench --with scale` ran (the rows of bench/failover.py)."""
    if not results.failover:
        return []
    return [
        Heading(2, "Failover on a Valkey Cluster", "failover"),
        Para(
            "Each run registers users back to back on an embedded Valkey Cluster (three primaries, "
            "three replicas) and kills -9 the primary that holds the stream's slot (kill) or runs "
            "CLUSTER FAILOVER on its replica (manual). Missed users are summed over both "
            "consumers; second users (a re-sent event that became a second user) must be 0."
        ),
        Table(COLUMNS, [[T(c) for c in cells(row)] for row in results.failover]),
    ]


def section(results: Results, charts: bool) -> list[Block]:
    """Replicas and failover, when the run measured them."""
    return [*replicas_section(results), *failover_section(results)]
