"""Fault scenarios, one module each; SCENARIOS lists them in report order."""

from __future__ import annotations

from bench.scenarios.attribute_change import AttributeChange
from bench.scenarios.base import ScenarioSpec
from bench.scenarios.concurrent import ConcurrentFirstCalls
from bench.scenarios.crash import CrashAfterCommit
from bench.scenarios.deactivation import Deactivation
from bench.scenarios.late_service import LateService
from bench.scenarios.never_call import NeverCall
from bench.scenarios.offline import ConsumerOffline
from bench.scenarios.slow_subscriber import SlowSubscriber
from bench.scenarios.steady import SteadyStream
from bench.scenarios.valkey_down import ValkeyDown
from bench.scenarios.valkey_killed import ValkeyKilled

SCENARIOS: list[ScenarioSpec] = [
    SteadyStream(),
    ConsumerOffline(),
    ValkeyDown(),
    CrashAfterCommit(),
    SlowSubscriber(),
    ConcurrentFirstCalls(),
    Deactivation(),
    NeverCall(),
    LateService(),
    ValkeyKilled(),
    AttributeChange(),
]
