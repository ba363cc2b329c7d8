"""Confidence intervals: a seeded percentile bootstrap over rounds, and over users for shares."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from bench.results import percentile

SEED = 20260101  # fixed, so an interval recomputed from results.json is the same interval
LEVEL = 0.95
RESAMPLES = 2000

R = TypeVar("R")


@dataclass(frozen=True)
class Interval:
    """A two-sided confidence interval of a ratio or a difference."""

    low: float
    high: float
    level: float = LEVEL

    def excludes(self, value: float) -> bool:
        """True when value (a tie: 0 for a difference, 1 for a ratio) lies outside."""
        return value < self.low or value > self.high

    def text(self, fmt: Callable[[float], str]) -> str:
        return f"{self.level:.0%} CI {fmt(self.low)} to {fmt(self.high)}"


def _quantile(sorted_values: Sequence[float], p: float) -> float:
    index = min(len(sorted_values) - 1, max(0, int(p * len(sorted_values))))
    return sorted_values[index]


def bootstrap(
    rounds: Sequence[R],
    statistic: Callable[[Sequence[R]], float],
    *,
    seed: int = SEED,
    resamples: int = RESAMPLES,
    level: float = LEVEL,
) -> Interval | None:
    """Percentile bootstrap: resample rounds with replacement; None with fewer than two rounds.

    Each element of `rounds` holds everything measured in one round (for a comparison, the
    paired figures of both sides), so a resample keeps the pairing of interleaved rounds.
    """
    if len(rounds) < 2:
        return None
    rng = random.Random(seed)
    n = len(rounds)
    values = sorted(
        statistic([rounds[rng.randrange(n)] for _ in range(n)]) for _ in range(resamples)
    )
    tail = (1 - level) / 2
    return Interval(_quantile(values, tail), _quantile(values, 1 - tail), level)


def mean(values: Sequence[float]) -> float:
    """Arithmetic mean; 0.0 for nothing."""
    return sum(values) / len(values) if values else 0.0


def pooled_ratio(
    a_rounds: Sequence[Sequence[float]],
    b_rounds: Sequence[Sequence[float]] | None = None,
    q: float = 50,
    **kw: int,
) -> Interval | None:
    """Interval of the q-th percentile of a's samples pooled over rounds, over b's (or alone,
    without b): each resample draws whole rounds, a's beside b's of the same round, and pools
    their samples, so the interval is of the very figure a report quotes from all samples."""
    if b_rounds is None:
        b_rounds = [[1.0]] * len(a_rounds)
    pairs = [(a, b) for a, b in zip(a_rounds, b_rounds, strict=False) if a and b]

    def ratio(sel: Sequence[tuple[Sequence[float], Sequence[float]]]) -> float:
        above = percentile(sorted(x for a, _ in sel for x in a), q)
        below = percentile(sorted(x for _, b in sel for x in b), q)
        return above / below if below else 0.0

    return bootstrap(pairs, ratio, **kw)


def paired_difference(a: Sequence[float], b: Sequence[float], **kw: int) -> Interval | None:
    """Interval of mean(a - b) over paired rounds: round i of a ran beside round i of b."""
    pairs = list(zip(a, b, strict=False))
    return bootstrap(pairs, lambda sel: mean([x - y for x, y in sel]), **kw)


def ratio_of_means(a: Sequence[float], b: Sequence[float], **kw: int) -> Interval | None:
    """Interval of mean(a) / mean(b) over paired rounds."""
    pairs = list(zip(a, b, strict=False))

    def ratio(sel: Sequence[tuple[float, float]]) -> float:
        den = mean([y for _, y in sel])
        return mean([x for x, _ in sel]) / den if den else 0.0

    return bootstrap(pairs, ratio, **kw)


def share_difference(
    hits_a: int, n_a: int, hits_b: int, n_b: int, *, seed: int = SEED, resamples: int = RESAMPLES
) -> Interval | None:
    """Interval of hits_a/n_a - hits_b/n_b, resampling the users of each side independently."""
    if not n_a or not n_b:
        return None
    a = [1] * hits_a + [0] * (n_a - hits_a)
    b = [1] * hits_b + [0] * (n_b - hits_b)
    rng = random.Random(seed)
    values = sorted(
        sum(rng.choices(a, k=n_a)) / n_a - sum(rng.choices(b, k=n_b)) / n_b
        for _ in range(resamples)
    )
    tail = (1 - LEVEL) / 2
    return Interval(_quantile(values, tail), _quantile(values, 1 - tail))
