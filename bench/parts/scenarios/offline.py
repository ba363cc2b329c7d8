"""Scenario 2: a consumer is offline while users register, then comes back."""

from __future__ import annotations

import asyncio

from bench.harness import Harness
from bench.parts.scenarios.base import InEveryVariant, Observation, Size, call_everyone, observe
from bench.parts.scenarios.names import ScenarioId
from bench.results import ScenarioRun
from bench.variants import Variant

SERVICE = "notifications"


class ConsumerOffline(InEveryVariant):
    """notifications is stopped during registrations and calls, then started again."""

    id = ScenarioId.CONSUMER_OFFLINE
    title = "Consumer offline"
    question = (
        "notifications is down while users register and call; it comes back and the "
        "users call again. Who does it know?"
    )

    async def run(self, h: Harness, variant: Variant, size: Size) -> ScenarioRun:
        async def body(obs: Observation) -> None:
            await h.stop(SERVICE)
            try:
                obs.users.extend(await h.register(size.users))
                await call_everyone(obs, "calls_while_down")
            finally:
                await h.start(SERVICE)
                obs.restarted(SERVICE)
                await h.wait_subscribers(variant.mode)
            obs.mark("back")
            await asyncio.sleep(size.settle_s / 2)
            await obs.sample()
            obs.figures["known_before_retry"] = {
                s: c[-1][1] if c else 0 for s, c in obs.curves.items()
            }
            await call_everyone(obs, "calls_after")

        return await observe(h, variant, size, body)
