"""The failover scenario's arithmetic: latency split at the fault, when propagation resumed."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bench.harness import Harness, Variant
from bench.parts.scenarios.base import Observation
from bench.parts.scenarios.failover import Failover, Registrations, propagation_resumed
from common.settings import Mode, Publish


def _at(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat()


def _observation(known: dict[str, dict[int, float]]) -> Observation:
    obs = Observation(Harness.__new__(Harness), Variant(Mode.STREAMS, Publish.OUTBOX))
    obs.last_known = {
        service: {uid: {"known_since": _at(t)} for uid, t in users.items()}
        for service, users in known.items()
    }
    return obs


def test_latency_is_split_by_when_each_registration_was_sent() -> None:
    regs = Registrations(latencies_ms=[(9.0, 10.0), (10.5, 300.0), (11.0, 20.0)])
    assert regs.latency(before=10.0) == [10.0]
    assert regs.latency(after=10.0) == [300.0, 20.0]


def test_propagation_resumes_with_the_first_user_sent_after_the_fault_known_everywhere() -> None:
    regs = Registrations(sent_at={1: 99.0, 2: 101.0, 3: 102.0})
    obs = _observation(
        {
            "profiles": {1: 99.5, 2: 104.0, 3: 103.0},
            "notifications": {1: 99.6, 2: 105.0, 3: 103.5},
        }
    )
    # user 1 predates the fault; user 3 is known everywhere at 103.5, before user 2 (105.0)
    assert propagation_resumed(obs, regs, fault_at=100.0) == 3.5


def test_a_user_missing_from_one_consumer_does_not_count_as_propagated() -> None:
    regs = Registrations(sent_at={2: 101.0})
    obs = _observation({"profiles": {2: 102.0}, "notifications": {}})
    assert propagation_resumed(obs, regs, fault_at=100.0) is None


def test_only_the_two_faults_are_accepted() -> None:
    assert [Failover(fault).fault for fault in ("kill", "manual")] == ["kill", "manual"]
    with pytest.raises(ValueError, match="fault"):
        Failover("reboot")
