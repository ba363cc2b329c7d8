"""The report section of capacity: a stream catch-up, and a lazy consumer's memory."""

from __future__ import annotations

from bench.report import Block, Heading, Para, T, Table, fmt_value
from bench.results import CatchUp, Memory, Results

CAPACITY_COMMAND = "discovery-lab bench --part capacity"


def _met(met: bool) -> str:
    return "met" if met else "miss"


def _rate(value: float) -> str:
    return f"{value:,.0f}"


def catchup_blocks(c: CatchUp) -> list[Block]:
    """Events per second against the floor, per-batch times, stages and environment."""
    ratio_met = c.ratio >= c.target_ratio
    rate_met = c.events_per_s >= c.target_events_per_s
    floors = "; ".join(
        f"read {f['read_s']} s + insert {f['insert_s']} s = {_rate(f['events_per_s'])}/s"
        + (f", verify {f['verify_s']} s" if "verify_s" in f else "")
        for f in c.floors
    )
    per_event_us = 1e6 / c.events_per_s if c.events_per_s else 0.0
    floor_us = 1e6 / c.floor_events_per_s if c.floor_events_per_s else 0.0
    return [
        Heading(3, "Catch-up: a consumer back to a stream backlog"),
        Para(
            f"A profiles consumer in streams mode comes back to {c.events:,} signed "
            f"user.registered events (about {c.event_bytes} bytes each) and reads them with "
            f"XREADGROUP COUNT {c.batch}: the signatures of a batch are checked all at once, "
            "shared between the consumer and a child process, then the batch is applied in one "
            "SQLite transaction (multi-row INSERT ... ON CONFLICT DO NOTHING) and acknowledged "
            "with one XACK while the next batch is read and verified. The floor, measured before "
            "and after it in the same run: raw XREADGROUP batches of the same size through the "
            "whole stream, plus one bulk insert of the same rows into a fresh SQLite file "
            f"({floors}); the faster one counts. The verified floor adds what no consumer may "
            "skip: verifying every entry (signature and event model) with the consumer's own "
            f"code, in batches. `{CAPACITY_COMMAND}` runs it with the memory step alone."
        ),
        Table(
            ["measure", "value", "target"],
            [
                [
                    T("events/s, catching up"),
                    T(_rate(c.events_per_s), _met(rate_met)),
                    T(f"≥ {_rate(c.target_events_per_s)}"),
                ],
                [T("floor events/s"), T(_rate(c.floor_events_per_s)), T("")],
                [
                    T("ratio to the floor"),
                    T(f"{c.ratio:.3f}", _met(ratio_met)),
                    T(f"≥ {c.target_ratio}"),
                ],
                [T("verified floor events/s"), T(_rate(c.verified_floor_events_per_s)), T("")],
                [T("ratio to the verified floor"), T(f"{c.verified_ratio:.3f}"), T("")],
                [T("seconds to catch up"), T(fmt_value(c.seconds)), T("")],
                [
                    T(f"per batch of {c.batch}, p50 / p99 ms (n={c.batch_ms.n})"),
                    T(f"{c.batch_ms.p50:.1f} / {c.batch_ms.p99:.1f}"),
                    T(""),
                ],
                [
                    T("per event, consumer / floor µs"),
                    T(f"{per_event_us:.0f} / {floor_us:.0f}"),
                    T(""),
                ],
                [
                    T("stage: verify one event alone (JSON, signature, model) µs"),
                    T(fmt_value(c.stages_us.get("verify_us"))),
                    T(""),
                ],
                [
                    T("stage: apply one event in a batch µs"),
                    T(fmt_value(c.stages_us.get("apply_us"))),
                    T(""),
                ],
                [
                    T("users known after / records / pending / dead-lettered"),
                    T(f"{c.known_users:,} / {c.records:,} / {c.pending_after} / {c.dead_lettered}"),
                    T(f"{c.events:,} / {c.events:,} / 0 / 0"),
                ],
            ],
        ),
        Para(
            "Environment: "
            + ", ".join(f"{k} {fmt_value(v)}" for k, v in sorted(c.environment.items()))
            + ". The floor decodes nothing and verifies nothing. Verifying alone (an RSA "
            "signature, then the event model) costs more per event than the whole floor, so "
            "the ratio to the verified floor shows what the consumer adds beyond it."
        ),
    ]


def memory_blocks(m: Memory) -> list[Block]:
    """Idle RSS, RSS with many users, the delta, slopes and the per-user structures."""
    http, child = m.http, m.in_process
    low, high = m.slope_range
    rows = [
        [T(f"{users:,}"), T(f"{mb:.1f}"), T(f"{mb - child.idle_mb:+.1f}")]
        for users, mb in child.points
    ]
    sizes = [
        [
            T(f"{name} ({setting.upper()})"),
            T(f"{m.bounds.get(setting, 0):,}"),
            T(f"{child.per_user.get(name, 0):,}"),
        ]
        for name, setting in (
            ("cached", "lab_known_cache_size"),
            ("seen", "lab_seen_users_size"),
            ("blocked", "lab_blocked_users_size"),
            ("tokens", "lab_token_cache_size"),
        )
    ]
    return [
        Heading(3, "Memory: a lazy consumer with many users seen"),
        Para(
            f"RSS of the profiles consumer in lazy mode: idle, then with {m.users:,} distinct "
            f"users seen. Target: at most {m.target_delta_mb:.0f} MB above idle. "
            f"Result: idle {m.idle_mb:.1f} MiB, {m.at_users_mb:.1f} MiB at {m.users:,} users, "
            f"+{m.delta_mb:.1f} MiB. The {m.users:,} users are driven in a child process "
            "that runs the consumer app's own lifespan and the route's path without HTTP; the "
            f"real uvicorn process is driven over HTTP with {m.http_users:,} users. Per-user "
            f"slope over users {low:,}–{high:,}: {http.slope_kb_per_user} KiB/user over HTTP "
            f"(idle {http.idle_mb:.1f} MiB, {http.points[-1][1]:.1f} MiB at {m.http_users:,}), "
            f"{child.slope_kb_per_user} KiB/user in process. "
            f"`{CAPACITY_COMMAND}` runs it with the catch-up alone."
        ),
        Table(["users seen (in process)", "RSS MiB", "above idle MiB"], rows),
        Table(
            ["per-user structure", "bound (users)", f"held at {m.users:,}"],
            sizes,
            f"cached users also expire after {m.known_cache_ttl_s:g} s",
        ),
    ]


def section(results: Results, charts: bool) -> list[Block]:
    """Catch-up against its floor and a lazy consumer's memory, when the run measured them."""
    if results.catchup is None and results.memory is None:
        return []
    blocks: list[Block] = [Heading(2, "At scale: catch-up and memory", "scale")]
    if results.catchup is not None:
        blocks += catchup_blocks(results.catchup)
    if results.memory is not None:
        blocks += memory_blocks(results.memory)
    return blocks
