"""Scenario 10: Valkey is killed with SIGKILL right after accepting events, then restarted."""

from __future__ import annotations

import asyncio

from bench.harness import Harness, Variant
from bench.parts.scenarios.base import (
    Observation,
    Size,
    call_everyone,
    observe,
    with_both_publishings,
)
from bench.parts.scenarios.names import ScenarioId
from bench.results import ScenarioRun

WAITING = "notifications"  # offline while users register, so its events must wait in Valkey


class ValkeyKilled:
    """A real fault: Valkey dies without a chance to save, with events not yet consumed."""

    id = ScenarioId.VALKEY_KILLED
    title = "Valkey killed (SIGKILL)"
    question = (
        "notifications is down while users register, so their events wait in Valkey; Valkey is "
        "then killed with SIGKILL, within its one-second AOF fsync window, and restarted. "
        "Which users do the services learn once everything is back?"
    )

    def variants(self, base: list[Variant]) -> list[Variant]:
        return with_both_publishings(base)

    async def run(self, h: Harness, variant: Variant, size: Size) -> ScenarioRun:
        async def body(obs: Observation) -> None:
            await h.stop(WAITING)
            try:
                obs.users.extend(await h.register(size.users))
                before_kill = await h.status("auth")
                await h.stop("valkey", kill=True)
                obs.mark("valkey_killed")
                obs.figures["outbox_pending_at_kill"] = before_kill.get("outbox_pending")
                obs.figures["events_published_before_kill"] = before_kill.get("events_published")
            finally:
                await h.start("valkey")
                await h.start(WAITING)
                obs.restarted(WAITING)
            await h.wait_subscribers(variant.mode)
            obs.mark("back")
            await asyncio.sleep(size.settle_s / 2)
            await call_everyone(obs, "calls_after")

        return await observe(h, variant, size, body)
