"""The report section of latency: each operation against floors measured in the same run."""

from __future__ import annotations

from matplotlib.figure import Figure

from bench.parts.latency import stages as stagereport
from bench.parts.latency.verdict import latency_of
from bench.report import (
    Block,
    Chart,
    Heading,
    Para,
    T,
    Table,
    fmt_num,
)
from bench.report.charts import colors, png
from bench.results import (
    MIN_P99_SAMPLES,
    Floors,
    ModeLatency,
    Results,
    Stats,
    Throughput,
    floor_parts,
)
from bench.verdict import LAZY, cost_columns

OPERATIONS = (
    "registration",
    "login",
    "first_call",
    "first_call_extra",
    "steady",
    "verify_only",
    "steady_miss",
    "verify_miss",
    "propagation",
)
OP_TITLES = {
    "registration": "Registration",
    "login": "Login",
    "first_call": "First call, on every consumer",
    "first_call_extra": "What a first call adds: per user, first call − the next call",
    "steady": "Steady call, known-user cache hit",
    "verify_only": "Verify only",
    "steady_miss": "Steady call, known-user cache entry expired",
    "verify_miss": "Verify only, at the same moments as the cache misses",
    "propagation": "Propagation",
}
FLOOR_TITLES = {
    "valkey_pubsub": "Valkey PUBLISH to a subscriber",
    "valkey_stream": "Valkey XADD to XREADGROUP",
    "db_insert": "one provisioning insert (SQLite)",
    "jwt_verify": "PyJWT RS256 verify, in process",
    "bare_fastapi": "empty FastAPI endpoint over HTTP",
    "argon2_hash": "one argon2id hash",
}


# Text, not emoji: a headless browser without an emoji font draws emoji as empty boxes.
def spread_text(stats: Stats) -> str:
    """The p50 of each round, as a range."""
    if not stats.spread_p50:
        return "—"
    low, high = min(stats.spread_p50), max(stats.spread_p50)
    return f"{fmt_num(low)}–{fmt_num(high)} ({len(stats.spread_p50)} rounds)"


def tail_text(stats: Stats) -> str:
    """The p99, or the max labelled as such when there are too few samples for a p99."""
    return fmt_num(stats.p99) if stats.has_p99 else f"max {fmt_num(stats.max)}"


def latency_chart(results: Results) -> bytes:
    """Bars of p50 per mode and operation, with p95 and tail marks, on a log scale."""
    fig = Figure(figsize=(9, 4))
    ax = fig.add_subplot()
    lats = measured_latency(results)
    palette = colors(list(lats))
    width = 0.8 / max(1, len(lats))
    for j, (column, lat) in enumerate(lats.items()):
        for i, op in enumerate(OPERATIONS):
            stats = op_stats(lat, op)
            if stats is None or stats.n == 0:
                continue
            x = i - 0.4 + width * (j + 0.5)
            ax.bar(x, stats.p50, width, color=palette[column], label=column if i == 0 else None)
            ax.vlines(x, stats.p50, stats.tail, color="black", linewidth=0.8)
            ax.plot([x], [stats.p95], marker="o", color="black", markersize=3)
            ax.plot([x], [stats.tail], marker="_", color="black", markersize=8)
    ax.set_xticks(range(len(OPERATIONS)), [OP_TITLES[op] for op in OPERATIONS])
    ax.set_yscale("log")
    ax.set_ylabel("ms (log scale)")
    ax.set_title(f"Latency: bar p50, dot p95, tick p99 (the max below {MIN_P99_SAMPLES:,} samples)")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)
    ax.grid(axis="y", which="both", alpha=0.3)
    return png(fig)


def measured_latency(results: Results) -> dict[str, ModeLatency]:
    """Latency of each cost column that has one."""
    return {c: lat for c in cost_columns(results) if (lat := latency_of(results, c))}


def op_stats(lat: ModeLatency, op: str) -> Stats | None:
    """The figures of one operation of one mode."""
    value = getattr(lat, op)
    return value if isinstance(value, Stats) else None


def _latency_row(
    results: Results, floors: Floors, column: str, lat: ModeLatency, op: str
) -> list[T] | None:
    stats = op_stats(lat, op)
    if stats is None or stats.n == 0:
        return None
    mode = cost_columns(results)[column]
    if op == "propagation":
        path = floors.path_floor(mode)
        floor = path.propagation.p50 if path else 0.0
        what = f"same-path floor ({path.transport})" if path else "no same-path floor"
    else:
        parts = floor_parts(op, mode)
        floor = floors.p50_of(parts)
        what = " + ".join(parts)
    ratio = f"{stats.p50 / floor:.1f}×" if floor > 0 else "n/a"
    return [
        T(column),
        T(str(stats.n)),
        T(fmt_num(stats.p50)),
        T(fmt_num(stats.p95)),
        T(tail_text(stats)),
        T(fmt_num(stats.max)),
        T(spread_text(stats)),
        T(f"{fmt_num(floor)} ({what})"),
        T(ratio),
    ]


def latency_tables(results: Results, floors: Floors) -> list[Block]:
    """One table per operation: percentiles per mode beside their floor."""
    lats = measured_latency(results)
    blocks: list[Block] = []
    for op in OPERATIONS:
        rows = [r for c, lat in lats.items() if (r := _latency_row(results, floors, c, lat, op))]
        blocks.append(Heading(3, f"{OP_TITLES[op]} (ms)"))
        if not rows:
            blocks.append(
                Para(
                    "Not measured in any mode (lazy has no propagation: a user is "
                    "known at its first call)."
                    if op == "propagation"
                    else "Not measured."
                )
            )
            continue
        blocks.append(
            Table(
                [
                    "mode",
                    "n",
                    "p50",
                    "p95",
                    f"p99 (n ≥ {MIN_P99_SAMPLES:,}; else the max)",
                    "max",
                    "p50 across rounds",
                    "floor p50",
                    "p50 / floor",
                ],
                rows,
            )
        )
        if op == "propagation" and LAZY in cost_columns(results).values():
            blocks.append(Para("lazy: n/a, a user is known at its first call."))
        if op == "propagation":
            blocks += propagation_split(results, floors)
    return blocks


def propagation_split(results: Results, floors: Floors) -> list[Block]:
    """Propagation per stage, and each event mode against the same-path floor."""
    return [
        Heading(3, "Propagation by stage, and the same-path floor"),
        Para(stagereport.EXPLAINED),
        Table(
            stagereport.STAGE_HEADERS,
            [[T(c) for c in row] for row in stagereport.stage_rows(results, floors)],
            "Each stage's duration (ms) and its share of each sample's commit-to-commit time",
        ),
        Table(
            stagereport.FLOOR_HEADERS,
            [[T(c) for c in row] for row in stagereport.floor_rows(results, floors)],
            "Propagation against the same-path floor; the largest excess is the stage whose "
            "duration exceeds the floor's by the most (ms, this mode vs the floor)",
        ),
        Para(stagereport.counts_text(results, floors)),
    ]


def _tp(tp: Throughput) -> str:
    runs = f"{tp.requests} in {fmt_num(tp.duration_s)} s"
    return f"{fmt_num(tp.rps)} req/s at concurrency {tp.concurrency} ({runs})"


def throughput_table(results: Results, floors: Floors) -> Table:
    """Requests per second per mode, with the hashing ceiling of registration."""
    rows = [
        [
            T(c),
            T(_tp(lat.registration_throughput)),
            T(_tp(lat.steady_throughput)),
            T(_tp(lat.verify_throughput)),
        ]
        for c, lat in measured_latency(results).items()
    ]
    hashes = floors.hash_throughput
    rows.append([T("floor"), T(f"argon2id ceiling: {_tp(hashes)}"), T("—"), T("—")])
    return Table(["mode", "registration", "steady call", "verify only"], rows)


def floors_table(floors: Floors) -> Table:
    """The reference lines measured in the same run."""
    rows = []
    for name, title in FLOOR_TITLES.items():
        s: Stats = getattr(floors, name)
        rows.append(
            [
                T(name),
                T(title),
                T(str(s.n)),
                T(fmt_num(s.p50)),
                T(fmt_num(s.p95)),
                T(tail_text(s)),
                T(spread_text(s)),
            ]
        )
    return Table(
        ["floor", "what", "n", "p50 (ms)", "p95", "p99 (else the max)", "p50 across rounds"],
        rows,
    )


def section(results: Results, charts: bool) -> list[Block]:
    """Section 2: latency and throughput, when the run measured them."""
    floors = results.floors
    if floors is None:
        return []
    blocks: list[Block] = [Heading(2, "2. Latency and throughput", "latency")]
    if charts and results.latency:
        blocks.append(Chart("Latency per mode and operation", latency_chart(results)))
    blocks += latency_tables(results, floors)
    blocks += [
        Heading(3, "Throughput"),
        throughput_table(results, floors),
        Heading(3, "Floors"),
        floors_table(floors),
    ]
    return blocks
