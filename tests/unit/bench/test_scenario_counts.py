"""A scenario's counts across a consumer's restart: stored counts keep their baseline."""

from __future__ import annotations

from typing import cast

from bench.harness import Harness
from bench.parts.scenarios.base import COUNTERS, Observation
from bench.variants import Variant
from common.settings import Mode, Publish


def _observation() -> Observation:
    obs = Observation(h=cast(Harness, None), variant=Variant(Mode.PUBSUB, Publish.DIRECT))
    obs.baseline = {"notifications": dict.fromkeys(COUNTERS, 130) | {"duplicates_ignored": 4}}
    return obs


def test_a_restart_keeps_the_baseline_of_what_the_database_counts() -> None:
    obs = _observation()
    obs.restarted("notifications")
    assert obs.baseline["notifications"] == {
        "provisioned_records": 130,  # the welcome messages sent before this run stay in its DB
        "known_users": 130,
        "duplicates_ignored": 0,  # the new process counts from zero
        "unknown_user_refusals": 0,
    }


def test_a_wiped_service_counts_everything_from_zero() -> None:
    obs = _observation()
    obs.restarted("notifications", wiped=True)
    assert obs.baseline["notifications"] == dict.fromkeys(COUNTERS, 0)


def test_a_service_down_at_the_start_has_a_zero_baseline() -> None:
    obs = _observation()
    obs.restarted("profiles")
    assert obs.baseline["profiles"] == dict.fromkeys(COUNTERS, 0)
