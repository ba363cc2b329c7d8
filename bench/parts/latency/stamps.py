"""An event's path split into stages, from the CLOCK_MONOTONIC stamps auth and the consumers take.

Stamps (consumers/stamps.py): commit → publish → receive → provision_start → provision_commit.
Each stage is named by the stamp that ends it: `publish` is commit → publish (the hand-off to
the publisher or the outbox relay, and signing), `receive` is publish → receive (Valkey and
the consumer's reader), `provision_start` is receive → provision start (verifying the
signature, parsing, the hop to a worker thread), `provision_commit` is the insert to its commit.
"""

from __future__ import annotations

from collections.abc import Sequence

from bench.results import MIN_P99_SAMPLES, PropagationSample, StageFigure, Stats, percentile
from consumers.stamps import STAMPS

STAGES = STAMPS[1:]


def total_ms(sample: PropagationSample) -> float:
    """Auth's commit to the consumer's commit."""
    return (sample.stamps["provision_commit"] - sample.stamps["commit"]) / 1e6


def spans_ms(sample: PropagationSample) -> dict[str, float]:
    """Each stage's duration."""
    return {
        stage: (sample.stamps[stage] - sample.stamps[before]) / 1e6
        for before, stage in zip(STAMPS, STAGES, strict=False)
    }


def in_order(sample: PropagationSample) -> bool:
    """commit ≤ publish ≤ receive ≤ provision start ≤ provision commit."""
    values = [sample.stamps[s] for s in STAMPS]
    return values == sorted(values)


def sample_of(
    user_id: int, consumer: str, round_: int, stamps: dict[str, int] | None
) -> PropagationSample | None:
    """A sample, if every stamp was taken (an event read back from the outbox has no commit
    stamp; a user provisioned at a call has none at all)."""
    if not stamps or not set(STAMPS) <= set(stamps):
        return None
    return PropagationSample(
        user_id=user_id, consumer=consumer, round=round_, stamps={s: stamps[s] for s in STAMPS}
    )


def split(samples: Sequence[PropagationSample]) -> list[StageFigure]:
    """Every stage's p50 and p99 (or max), in ms and as a share of its sample's total."""
    if not samples:
        return []
    spans = [spans_ms(s) for s in samples]
    totals = [total_ms(s) for s in samples]
    out = []
    for stage in STAGES:
        ms = Stats.of([sp[stage] for sp in spans]).model_copy(update={"samples": []})
        shares = sorted(
            100 * sp[stage] / t if t > 0 else 0.0 for sp, t in zip(spans, totals, strict=True)
        )
        tail = percentile(shares, 99) if len(shares) >= MIN_P99_SAMPLES else shares[-1]
        out.append(
            StageFigure(
                stage=stage,
                ms=ms,
                share_p50=round(percentile(shares, 50), 1),
                share_p99=round(tail, 1),
            )
        )
    return out


def floor_at_rank(prop: Stats, floor: Stats) -> tuple[float, float]:
    """(q, the floor's q-th percentile) at the rank of prop's tail: p99 from enough samples,
    else for a max of n samples the 100·(n−1)/n-th percentile."""
    q = 99.0 if prop.has_p99 else 100 * (prop.n - 1) / max(prop.n, 1)
    return q, percentile(sorted(floor.samples), q)


def _at(figure: StageFigure, q: str) -> float:
    return figure.ms.p50 if q == "p50" else figure.ms.tail


def biggest(stages: Sequence[StageFigure], q: str = "p50") -> StageFigure:
    """The stage that takes longest at p50 (or at the tail)."""
    return max(stages, key=lambda f: _at(f, q))


def excess(
    mode: Sequence[StageFigure], floor: Sequence[StageFigure], q: str = "p50"
) -> list[tuple[str, float, float]]:
    """(stage, mode ms, floor ms) at p50 or the tail, the largest excess over the floor first."""
    floors = {f.stage: _at(f, q) for f in floor}
    rows = [(f.stage, _at(f, q), floors.get(f.stage, 0.0)) for f in mode]
    return sorted(rows, key=lambda r: r[1] - r[2], reverse=True)


def explain(mode: Sequence[StageFigure], floor: Sequence[StageFigure], q: str = "p50") -> str:
    """Which measured stages make up the gap to the floor, at p50 or the tail."""
    if not mode or not floor:
        return "no stage stamps were measured"
    rows = excess(mode, floor, q)
    label = "p50" if q == "p50" else mode[0].ms.tail_label
    stage, ms, floor_ms = rows[0]
    parts = ", ".join(f"{s} {m:.3f} vs {f:.3f}" for s, m, f in rows)
    return (
        f"measured per stage at {label} (ms, this mode vs the same-path floor): {parts}; "
        f"the largest excess is {stage}, {ms - floor_ms:+.3f} ms"
    )
