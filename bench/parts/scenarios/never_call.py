"""Scenario 8: users register and never call a service; who gets a welcome message?"""

from __future__ import annotations

from bench.harness import Harness
from bench.parts.scenarios.base import InEveryVariant, Observation, Size, observe
from bench.parts.scenarios.names import ScenarioId
from bench.results import ScenarioRun
from bench.variants import Variant


class NeverCall(InEveryVariant):
    """Registration only: the welcome message is what lazy discovery cannot send."""

    id = ScenarioId.NEVER_CALL
    title = "Users who never call"
    question = (
        "Users register and never call any service. Does notifications send them a welcome message?"
    )

    async def run(self, h: Harness, variant: Variant, size: Size) -> ScenarioRun:
        async def body(obs: Observation) -> None:
            obs.users.extend(await h.register(size.users))
            obs.mark("registered")

        return await observe(h, variant, size, body)
