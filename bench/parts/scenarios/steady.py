"""Scenario 1: a steady stream of registrations at a fixed rate, then each user calls."""

from __future__ import annotations

import asyncio

from bench.harness import Harness
from bench.parts.scenarios.base import InEveryVariant, Observation, Size, call_everyone, observe
from bench.parts.scenarios.names import ScenarioId
from bench.results import ScenarioRun
from bench.variants import Variant


class SteadyStream(InEveryVariant):
    """Registrations at a fixed rate; how fast does each consumer become aware?"""

    id = ScenarioId.STEADY
    title = "Steady registrations"
    question = (
        "Users register at a fixed rate, then each calls both services once. "
        "When does each service know each user?"
    )

    async def run(self, h: Harness, variant: Variant, size: Size) -> ScenarioRun:
        rate = 4.0

        async def body(obs: Observation) -> None:
            async def one(delay: float) -> None:
                await asyncio.sleep(delay)
                _status, user = await h.register_one()
                if user is not None:
                    obs.users.append(user)

            await asyncio.gather(*(one(i / rate) for i in range(size.users)))
            obs.figures["rate_per_s"] = rate
            obs.mark("registered")
            await asyncio.sleep(0.5)
            await call_everyone(obs, "calls")

        return await observe(h, variant, size, body)
