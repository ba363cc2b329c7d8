"""The stage split of propagation and the comparison with the same-path floor, on known cases."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.parts.latency.stamps import (
    STAGES,
    excess,
    explain,
    floor_at_rank,
    in_order,
    sample_of,
    spans_ms,
    split,
    total_ms,
)
from bench.parts.latency.targets import P50_TARGET, TAIL_TARGET, propagation_targets
from bench.results import PathFloor, PropagationSample, Results, Stats

FIXTURE = Path(__file__).parent / "fixtures" / "results.json"
MS = 1_000_000  # ns


def stamped(user_id: int, *gaps_ms: float, consumer: str = "profiles") -> PropagationSample:
    """A sample whose stages last `gaps_ms` (publish, receive, provision start, commit)."""
    stamps = {"commit": 10**12}
    for before, name, gap in zip(("commit", *STAGES[:-1]), STAGES, gaps_ms, strict=True):
        stamps[name] = stamps[before] + round(gap * MS)
    sample = sample_of(user_id, consumer, 0, stamps)
    assert sample is not None
    return sample


def test_a_sample_splits_into_its_stages_and_sums_to_commit_to_commit() -> None:
    sample = stamped(1, 0.5, 0.25, 1.0, 2.25)
    assert spans_ms(sample) == {
        "publish": 0.5,
        "receive": 0.25,
        "provision_start": 1.0,
        "provision_commit": 2.25,
    }
    assert total_ms(sample) == 4.0
    assert in_order(sample)


def test_a_sample_needs_every_stamp_and_order_is_checked() -> None:
    assert sample_of(1, "profiles", 0, {"commit": 1, "publish": 2}) is None
    assert sample_of(1, "profiles", 0, None) is None
    late_commit = {"commit": 5, "publish": 4, "receive": 6, "provision_start": 7,
                   "provision_commit": 8}  # fmt: skip
    sample = sample_of(1, "profiles", 0, late_commit)
    assert sample is not None and not in_order(sample)


def test_split_gives_each_stage_its_percentiles_and_share() -> None:
    # 9 samples of 1+1+1+1 ms and one whose insert takes 6 ms (total 9 ms)
    samples = [stamped(i, 1, 1, 1, 1) for i in range(9)] + [stamped(9, 1, 1, 1, 6)]
    figures = {f.stage: f for f in split(samples)}
    insert = figures["provision_commit"]
    assert insert.ms.n == 10 and insert.ms.p50 == 1.0
    assert insert.ms.tail == 6.0 and not insert.ms.has_p99  # 10 < 1,000 samples: the max
    assert insert.share_p50 == 25.0
    assert insert.share_p99 == round(100 * 6 / 9, 1)  # the largest share, as a max
    assert figures["publish"].share_p99 == 25.0  # 1 of 4 ms beats 1 of 9 ms
    assert split([]) == []


def test_excess_names_the_stage_furthest_above_the_floor() -> None:
    mode = split([stamped(i, 3, 1, 2, 1) for i in range(5)])
    floor = split([stamped(i, 0.5, 1, 0.25, 1) for i in range(5)])
    rows = excess(mode, floor)
    assert rows[0] == ("publish", 3.0, 0.5)
    assert rows[1] == ("provision_start", 2.0, 0.25)
    text = explain(mode, floor)
    assert "largest excess is publish, +2.500 ms" in text and "measured per stage" in text
    assert explain([], floor) == "no stage stamps were measured"


def test_the_floor_tail_is_taken_at_the_rank_of_the_mode_tail() -> None:
    floor = Stats.of([float(x) for x in range(1, 101)])
    q, value = floor_at_rank(Stats.of([1.0] * 10), floor)  # a max of 10: the 90th percentile
    assert (q, value) == (90.0, 90.0)
    q, value = floor_at_rank(Stats.of([1.0] * 1000), floor)
    assert (q, value) == (99.0, 99.0)


@pytest.fixture
def stored() -> Results:
    return Results.model_validate_json(FIXTURE.read_text())


def test_propagation_targets_compare_with_the_same_path_floor(stored: Results) -> None:
    mode = [stamped(i, 2, 1, 2, 1, consumer=c) for i in range(4) for c in ("a", "b")]
    floor = [stamped(i, 0.5, 1, 0.25, 0.25, consumer=c) for i in range(4) for c in ("a", "b")]
    lat = stored.latency["streams+outbox"].model_copy(
        update={
            "propagation": Stats.of([total_ms(s) for s in mode], [[total_ms(s) for s in mode]]),
            "propagation_samples": mode,
            "propagation_stages": split(mode),
        }
    )
    assert stored.floors is not None
    floors = stored.floors.model_copy(
        update={
            "same_path": {
                "stream": PathFloor(
                    transport="stream",
                    propagation=Stats.of(
                        [total_ms(s) for s in floor], [[total_ms(s) for s in floor]]
                    ),
                    samples=floor,
                    stages=split(floor),
                )
            }
        }
    )
    targets = {t.name: t for t in propagation_targets("streams+outbox", lat, floors)}
    p50, tail = targets[P50_TARGET], targets[TAIL_TARGET]
    assert p50.measured == 3.0 and p50.met  # 6 ms against 2 ms
    assert tail.measured == 3.0 and tail.met and "max (n=8" in tail.detail
    assert "largest excess is provision_start, +1.750 ms" in p50.reason
    assert "measured per stage" in tail.reason


def test_without_a_floor_the_propagation_targets_are_not_met(stored: Results) -> None:
    lat = stored.latency["pubsub+direct"]
    assert stored.floors is not None
    floors = stored.floors.model_copy(update={"same_path": {}})
    targets = propagation_targets("pubsub+direct", lat, floors)
    assert len(targets) == 2 and not any(t.met for t in targets)
    assert all("not measured" in t.reason for t in targets)
