"""Users counted once per run: reached by their event, rescued by the fallback, or never."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.catalog import verdict
from bench.parts.scenarios.verdict import fault_scenarios
from bench.reach import add, reach
from bench.results import Results, ScenarioRun

FIXTURE = Path(__file__).parent / "fixtures" / "results.json"


@pytest.fixture(scope="module")
def results() -> Results:
    return Results.model_validate_json(FIXTURE.read_text(encoding="utf-8"))


def _run(results: Results, sid: int, label: str) -> ScenarioRun:
    return next(s for s in results.scenarios if s.id == sid).runs[label]


def test_a_user_missed_by_two_consumers_counts_once(results: Results) -> None:
    r = reach(_run(results, 3, "pubsub+direct"))  # profiles missed 5, notifications 5, 3 shared
    assert (r.users, r.by_event, r.rescued, r.never) == (12, 5, 0, 7)
    assert r.never_per_consumer == {"profiles": 5, "notifications": 5}


def test_users_provisioned_by_the_fallback_are_rescued_not_reached(results: Results) -> None:
    r = reach(_run(results, 3, "hybrid+outbox"))  # lazy at profiles 3, notifications 3, 2 shared
    assert (r.by_event, r.rescued, r.never) == (8, 4, 0)


def test_lazy_reaches_every_user_through_the_fallback(results: Results) -> None:
    r = reach(_run(results, 3, "lazy"))
    assert (r.by_event, r.rescued, r.never) == (0, 12, 0)


def test_the_verdict_counts_users_never_reached(results: Results) -> None:
    axis = next(
        a for a in verdict(results).variant_axes if a.label.startswith("Users never reached")
    )
    faults = fault_scenarios(results)
    expected = add([reach(s.runs["pubsub+direct"]) for s in faults])
    pairs = sum(c.missed for s in faults for c in s.runs["pubsub+direct"].consumers.values())
    assert axis.cells["pubsub+direct"].value == expected.never < pairs
    assert axis.cells["hybrid+outbox"].text.endswith("rescued 4")
    assert "lazy" in axis.winners and "pubsub+direct" not in axis.winners
    assert 10 in {s.id for s in faults}  # the SIGKILL scenario counts among the faults


def test_a_slow_redelivery_is_shown_beside_the_final_count(results: Results) -> None:
    run = _run(results, 3, "streams+outbox")
    assert run.consumers["profiles"].missed_at_first_check == 2
    assert reach(run).never == 0
