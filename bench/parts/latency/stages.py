"""The report's propagation split: each stage of an event's path, and the same-path floor."""

from __future__ import annotations

from bench.parts.latency.stamps import excess, floor_at_rank, in_order
from bench.report import fmt_num
from bench.results import Floors, ModeLatency, PathFloor, Results, StageFigure, Stats

EXPLAINED = (
    "Every event is stamped on CLOCK_MONOTONIC, which one Linux host shares across processes: "
    "commit (auth's transaction committed), publish (auth or its outbox relay hands the signed "
    "event to Valkey), receive (the consumer takes it off its connection), provision start and "
    "provision commit (the consumer's insert begins, and commits). Propagation is commit to "
    "provision commit, per event and consumer. Each stage below is named by the stamp that "
    "ends it. The same-path floor runs the same path in the same rounds, under a registration "
    "burst of the same size: auth-side commit and the real signed payload, Valkey, and a "
    "consumer process whose handler only does the insert into a SQLite file of the same kind."
)
STAGE_HEADERS = [
    "path",
    "stage",
    "n",
    "p50 (ms)",
    "p99 (else the max)",
    "share of total, p50",
    "share, p99 (else the max)",
]
FLOOR_HEADERS = [
    "mode",
    "p50 (ms)",
    "floor p50",
    "p50 / floor (target ≤ 3×)",
    "tail",
    "floor at the same rank",
    "tail / floor (target ≤ 10×)",
    "largest excess over the floor: p50",
    "tail",
]


def _tail(stats: Stats) -> str:
    return fmt_num(stats.tail) if stats.has_p99 else f"max {fmt_num(stats.max)}"


def _stage_rows(path: str, figures: list[StageFigure]) -> list[list[str]]:
    return [
        [
            path,
            f.stage,
            str(f.ms.n),
            fmt_num(f.ms.p50),
            _tail(f.ms),
            f"{f.share_p50:.0f}%",
            f"{f.share_p99:.0f}%",
        ]
        for f in figures
    ]


def event_modes(results: Results) -> dict[str, ModeLatency]:
    """The variants whose propagation was measured."""
    return {label: lat for label, lat in results.latency.items() if lat.propagation is not None}


def stage_rows(results: Results, floors: Floors) -> list[list[str]]:
    """Each stage of each event mode, then of each transport's floor."""
    rows = []
    for label, lat in event_modes(results).items():
        rows += _stage_rows(label, lat.propagation_stages)
    for transport, floor in floors.same_path.items():
        rows += _stage_rows(f"floor ({transport})", floor.stages)
    return rows


def _largest(lat: ModeLatency, floor: PathFloor, q: str) -> str:
    if not lat.propagation_stages or not floor.stages:
        return "—"
    stage, ms, floor_ms = excess(lat.propagation_stages, floor.stages, q)[0]
    return f"{stage} {fmt_num(ms)} vs {fmt_num(floor_ms)}"


def floor_rows(results: Results, floors: Floors) -> list[list[str]]:
    """Each event mode's p50 and tail against the same-path floor of its transport."""
    rows = []
    for label, lat in event_modes(results).items():
        prop = lat.propagation
        floor = floors.path_floor(label.partition("+")[0])
        if prop is None or prop.n == 0 or floor is None or floor.propagation.n == 0:
            rows.append([label, *["—"] * (len(FLOOR_HEADERS) - 1)])
            continue
        fp = floor.propagation
        q, floor_tail = floor_at_rank(prop, fp)
        rows.append(
            [
                label,
                fmt_num(prop.p50),
                fmt_num(fp.p50),
                f"{prop.p50 / fp.p50:.1f}×" if fp.p50 else "n/a",
                f"{prop.tail_label} {fmt_num(prop.tail)}",
                f"{fmt_num(floor_tail)} (p{q:.1f} of {fp.n})",
                f"{prop.tail / floor_tail:.1f}×" if floor_tail else "n/a",
                _largest(lat, floor, "p50"),
                _largest(lat, floor, "tail"),
            ]
        )
    return rows


def counts_text(results: Results, floors: Floors) -> str:
    """Samples not measured, and stamps out of order (a correct system shows none)."""
    parts = []
    for label, lat in event_modes(results).items():
        disordered = sum(not in_order(s) for s in lat.propagation_samples)
        parts.append(
            f"{label}: {len(lat.propagation_samples)} samples, {lat.propagation_timeouts} not "
            f"known within 10 s, {lat.propagation_unstamped} without every stamp, "
            f"{disordered} out of order"
        )
    for transport, floor in floors.same_path.items():
        disordered = sum(not in_order(s) for s in floor.samples)
        parts.append(
            f"floor ({transport}): {len(floor.samples)} samples, {floor.timeouts} not committed "
            f"within the wait, {disordered} out of order"
        )
    return "; ".join(parts) + "." if parts else "No event mode was measured."
