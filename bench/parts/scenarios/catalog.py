"""Fault scenarios, one module each; SCENARIOS lists them in report order."""

from __future__ import annotations

from bench.parts.scenarios.attribute_change import AttributeChange
from bench.parts.scenarios.base import ScenarioSpec
from bench.parts.scenarios.concurrent import ConcurrentFirstCalls
from bench.parts.scenarios.crash import CrashAfterCommit
from bench.parts.scenarios.deactivation import Deactivation
from bench.parts.scenarios.late_service import LateService
from bench.parts.scenarios.never_call import NeverCall
from bench.parts.scenarios.offline import ConsumerOffline
from bench.parts.scenarios.slow_subscriber import SlowSubscriber
from bench.parts.scenarios.steady import SteadyStream
from bench.parts.scenarios.valkey_down import ValkeyDown
from bench.parts.scenarios.valkey_killed import ValkeyKilled

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
