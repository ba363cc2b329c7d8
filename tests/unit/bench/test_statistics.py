"""Percentiles, intervals and stars, checked against cases with known answers."""

from __future__ import annotations

import math
import random
import statistics
from pathlib import Path

import pytest

from bench.catalog import verdict
from bench.intervals import (
    bootstrap,
    mean,
    paired_difference,
    pooled_ratio,
    ratio_of_means,
    share_difference,
)
from bench.parts.latency.targets import mean_interval, p50_interval
from bench.results import MIN_P99_SAMPLES, Results, Stats, percentile

FIXTURE = Path(__file__).parent / "fixtures" / "results.json"


@pytest.mark.parametrize(
    ("values", "q", "expected"),
    [
        ([15, 20, 35, 40, 50], 5, 15),  # the textbook nearest-rank example
        ([15, 20, 35, 40, 50], 30, 20),
        ([15, 20, 35, 40, 50], 40, 20),
        ([15, 20, 35, 40, 50], 50, 35),
        ([15, 20, 35, 40, 50], 100, 50),
        (list(range(1, 21)), 95, 19),  # q·n/100 = 19, an odd integer: rank 19, not 20
        (list(range(1, 101)), 99, 99),  # q·n/100 = 99: rank 99, not 100
        (list(range(1, 101)), 95, 95),
        (list(range(1, 11)), 50, 5),
        (list(range(1, 11)), 95, 10),  # 9.5 rounds up
        (list(range(1, 1001)), 99.9, 999),  # no float error pushes 999 to 1000
        ([7], 99, 7),
        ([1, 2, 3], 0, 1),
    ],
)
def test_percentile_is_the_nearest_rank(values: list[int], q: float, expected: int) -> None:
    assert percentile(values, q) == expected


def test_percentile_of_nothing_is_an_error() -> None:
    with pytest.raises(ValueError, match="no values"):
        percentile([], 50)


def test_stats_keep_rounds_and_quote_a_p99_only_from_enough_samples() -> None:
    rounds = [[float(x) for x in range(1, 11)], [float(x) for x in range(11, 21)]]
    few = Stats.of([x for r in rounds for x in r], rounds)
    assert few.p95 == 19 and few.p99 == 20
    assert few.per_round() == rounds and few.round_p50s() == [5, 15]
    assert not few.has_p99 and few.tail == few.max and "max" in few.tail_label
    many = Stats.of([float(x) for x in range(1, MIN_P99_SAMPLES + 1)])
    assert many.has_p99 and many.tail == 990 and many.tail_label == "p99"


def test_an_interval_of_a_constant_is_that_constant() -> None:
    interval = bootstrap([2.0, 2.0, 2.0, 2.0], mean)
    assert interval is not None and interval.low == interval.high == 2.0
    shift = paired_difference([3.0, 5.0, 4.0], [2.0, 4.0, 3.0])
    assert shift is not None and shift.low == shift.high == 1.0 and shift.excludes(0.0)
    ratio = ratio_of_means([2.0, 4.0, 6.0], [1.0, 2.0, 3.0])
    assert ratio is not None and math.isclose(ratio.low, 2.0) and math.isclose(ratio.high, 2.0)


def test_one_round_gives_no_interval() -> None:
    assert bootstrap([1.0], mean) is None
    assert paired_difference([1.0], [2.0]) is None


def test_bootstrap_of_a_mean_matches_the_normal_interval() -> None:
    rng = random.Random(7)
    data = [rng.gauss(10, 2) for _ in range(400)]
    interval = bootstrap(data, mean, resamples=1000)
    assert interval is not None
    expected = 1.96 * statistics.stdev(data) / math.sqrt(len(data))  # about 0.2
    assert interval.low < statistics.fmean(data) < interval.high
    assert (interval.high - interval.low) / 2 == pytest.approx(expected, rel=0.15)


def test_share_difference_matches_the_normal_interval() -> None:
    interval = share_difference(50, 100, 50, 100, resamples=2000)
    assert interval is not None and not interval.excludes(0.0)
    half = 1.96 * math.sqrt(2 * 0.5 * 0.5 / 100)  # about 0.139
    assert (interval.high - interval.low) / 2 == pytest.approx(half, rel=0.15)
    assert share_difference(12, 24, 0, 24).excludes(0.0)  # type: ignore[union-attr]
    assert not share_difference(1, 24, 0, 24).excludes(0.0)  # type: ignore[union-attr]


def test_the_same_data_gives_the_same_interval() -> None:
    a, b = [1.0, 2.5, 1.7, 3.1], [1.2, 2.0, 1.1, 2.9]
    assert paired_difference(a, b) == paired_difference(a, b)


@pytest.fixture
def results() -> Results:
    return Results.model_validate_json(FIXTURE.read_text(encoding="utf-8"))


def _axis(axes: tuple[object, ...], prefix: str) -> object:
    return next(a for a in axes if a.label.startswith(prefix))  # type: ignore[attr-defined]


def test_the_interval_of_a_pooled_p50_holds_the_quoted_p50() -> None:
    # One long round of fast calls and four short slow ones: the p50 of every sample is fast,
    # the mean of the rounds' p50s is slow. The interval must be of the figure quoted.
    rounds = [[1.0] * 100] + [[3.0] * 2 for _ in range(4)]
    steady = Stats.of([x for r in rounds for x in r], rounds)
    verify = Stats.of([1.0] * 108, [[1.0] * 100] + [[1.0] * 2] * 4)
    assert steady.p50 / verify.p50 == 1.0
    per_round = [s / v for s, v in zip(steady.round_p50s(), verify.round_p50s(), strict=True)]
    old = mean_interval(per_round)
    assert old is not None and old[0] > 1.0  # the figure would lie outside its interval
    low, high = p50_interval(steady, verify, per_round) or (0.0, 0.0)
    assert low <= 1.0 <= high
    alone = pooled_ratio(steady.per_round())
    assert alone is not None and alone.low <= steady.p50 <= alone.high


def test_a_lead_without_rounds_is_no_star(results: Results) -> None:
    axis = _axis(verdict(results).mode_axes, "Registration throughput")
    assert axis.winners and axis.interval is None and axis.within_noise  # type: ignore[attr-defined]


def test_a_lead_beyond_its_interval_is_a_star(results: Results) -> None:
    far = results.model_copy(deep=True)
    winner = far.latency["streams+outbox"].steady
    winner.spread_p50 = [x / 10 for x in winner.spread_p50]
    winner.p50 = winner.p50 / 10
    axis = _axis(verdict(far).mode_axes, "Steady call p50")
    assert axis.winners == ("streams+outbox",)  # type: ignore[attr-defined]
    assert axis.interval is not None and not axis.within_noise  # type: ignore[attr-defined]


def test_a_tail_from_few_samples_is_quoted_as_the_max(results: Results) -> None:
    axis = _axis(verdict(results).mode_axes, "Propagation p99")
    cell = axis.cells["streams+outbox"]  # type: ignore[attr-defined]
    assert cell.text.startswith("max ") and "n=" in cell.text
    assert axis.within_noise or not axis.winners  # type: ignore[attr-defined]


def test_a_variant_that_ran_fewer_scenarios_is_not_ranked(results: Results) -> None:
    partial = results.model_copy(deep=True)
    for scenario in partial.scenarios:
        if scenario.id in (2, 3, 4):
            del scenario.runs["lazy"]
    axis = _axis(verdict(partial).variant_axes, "Users never reached")
    assert not axis.cells["lazy"].ranked and "not ranked" in axis.cells["lazy"].text  # type: ignore[attr-defined]
    assert "lazy" not in axis.winners  # type: ignore[attr-defined]
