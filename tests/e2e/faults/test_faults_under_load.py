"""The stack under load while processes are killed with SIGKILL and Valkey is stopped, restarted
and has its connections killed; afterwards each mode is held to its own promise."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bench.harness import Variant
from bench.parts.reliability.soak import SoakPlan, run_soak
from lab.processes import Stack

pytestmark = pytest.mark.slow

# Every fault kind lands in every variant, at random points of the run.
CASES = ["lazy", "streams+outbox", "hybrid", "pubsub", "streams+direct"]


@pytest.fixture
def stack(lazy_stack: Stack) -> Stack:
    """The shared stack, in lazy mode; a test switches it to the mode it needs."""
    return lazy_stack


def _server_errors(statuses: dict[str, int]) -> dict[str, int]:
    """Answers that are the product's own failures: a 500 anywhere."""
    return {k: v for k, v in statuses.items() if k.endswith(" 500")}


@pytest.mark.parametrize("label", CASES)
def test_each_mode_keeps_its_promise_through_faults(
    stack: Stack, label: str, tmp_path: Path
) -> None:
    plan = SoakPlan.short()
    result = run_soak(stack, Variant.parse(label), plan, tmp_path, seed=CASES.index(label))
    promise: dict[str, Any] = result["promise"]
    assert [f["kind"] for f in result["faults"]] == list(plan.kinds)
    assert not _server_errors(result["load"]["statuses"]), result["load"]["statuses"]
    assert promise["users"] > 0, result
    for service, tally in promise["services"].items():
        assert tally["duplicates"] == 0, (service, tally)  # exactly once, never twice
        calls = tally["call_statuses"]
        if promise["promised"]:
            assert tally["missing"] == [], (service, promise)
            assert set(calls) == {"200"}, (service, calls)
        else:
            # A user the events never brought is refused and counted, never served by accident
            # and never a failure: the loss shows.
            assert set(calls) <= {"200", "403"}, (service, calls)
            assert calls.get("403", 0) == len(tally["missing"]), (service, tally)
    assert promise["kept"], promise
