"""Scenario 3: Valkey is down while users register, then back; direct vs outbox publishing."""

from __future__ import annotations

import asyncio

from bench.harness import Harness
from bench.parts.scenarios.base import (
    Observation,
    Size,
    call_everyone,
    observe,
    with_both_publishings,
)
from bench.parts.scenarios.names import ScenarioId
from bench.results import ScenarioRun
from bench.variants import Variant


class ValkeyDown:
    """Valkey stops during registrations; what reaches the consumers once it is back?"""

    id = ScenarioId.VALKEY_DOWN
    title = "Valkey down"
    question = (
        "Valkey is stopped while users register and call, then started again. "
        "Which users do the services learn, under direct and outbox publishing?"
    )

    def variants(self, base: list[Variant]) -> list[Variant]:
        return with_both_publishings(base)

    async def run(self, h: Harness, variant: Variant, size: Size) -> ScenarioRun:
        async def body(obs: Observation) -> None:
            before = await h.status("auth")
            await h.stop("valkey")
            try:
                obs.users.extend(await h.register(size.users))
                obs.figures["registered_while_down"] = len(obs.users)
                await call_everyone(obs, "calls_while_down")
                during = await h.status("auth")
                obs.figures["events_lost"] = during["events_lost"] - before["events_lost"]
                obs.figures["outbox_pending_while_down"] = during["outbox_pending"]
            finally:
                await h.start("valkey")
            await h.wait_subscribers(variant.mode)
            obs.mark("valkey_back")
            await asyncio.sleep(size.settle_s / 2)
            await call_everyone(obs, "calls_after")
            after = await h.status("auth")
            obs.figures["outbox_pending_after"] = after["outbox_pending"]

        return await observe(h, variant, size, body)
