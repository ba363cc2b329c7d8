"""The smallest benchmark plan that still exercises every part, for tests."""

from __future__ import annotations

from bench.parts.capacity import catchup
from bench.parts.latency.measure import Sizes
from bench.parts.scenarios.base import Size
from bench.run import Plan

TINY = Plan(
    quick=True,
    rounds=1,
    latency=Sizes(registrations=4, steady_calls=100, throughput_s=0.3, hash_s=0.5),
    scenario=Size(users=3, settle_s=1.5, quick=True),
    floor_samples=50,
    catchup=catchup.Plan(events=1000, batch=200),
    memory_users=(2000, 300),
)
