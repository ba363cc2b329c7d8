"""Scenario 9: a service added later, when users already exist."""

from __future__ import annotations

import asyncio

import valkey.asyncio as avalkey
from valkey.exceptions import ResponseError

from bench.harness import Harness
from bench.parts.scenarios.base import InEveryVariant, Observation, Size, call_everyone, observe
from bench.parts.scenarios.names import AFTER_WAIT_KEY, AT_ONCE_KEY, LATE_SERVICE_KEY, ScenarioId
from bench.results import ScenarioRun
from bench.variants import Variant
from events import names

SERVICE = "notifications"


class LateService(InEveryVariant):
    """notifications starts from nothing (no database, no consumer group) after users exist."""

    id = ScenarioId.LATE_SERVICE
    title = "Service added later"
    question = (
        "notifications is deployed after users already registered. What does it know "
        "at once, after a while, and after the users call?"
    )

    async def run(self, h: Harness, variant: Variant, size: Size) -> ScenarioRun:
        async def body(obs: Observation) -> None:
            obs.users.extend(await h.register(size.users))
            await asyncio.sleep(0.5)
            await h.stop(SERVICE)
            h.wipe_service(SERVICE)
            client = avalkey.Valkey.from_url(h.stack.settings.effective_valkey_url)
            try:
                await client.xgroup_destroy(names.STREAM, SERVICE)
            except ResponseError:
                pass
            finally:
                await client.aclose()
            await h.start(SERVICE)
            obs.restarted(SERVICE, wiped=True)
            await h.wait_subscribers(variant.mode)
            obs.mark("added")
            await obs.sample()
            at_once = obs.curves.get(SERVICE, [(0, 0)])[-1][1]
            await asyncio.sleep(size.settle_s / 2)
            await obs.sample()
            obs.figures[LATE_SERVICE_KEY] = SERVICE
            obs.figures[AT_ONCE_KEY] = at_once
            obs.figures[AFTER_WAIT_KEY] = obs.curves.get(SERVICE, [(0, 0)])[-1][1]
            status = await h.status(SERVICE)
            obs.figures["service_knows_in_total"] = status["known_users"]
            obs.figures["welcome_messages_in_total"] = status["provisioned_records"]
            await call_everyone(obs, "calls")

        return await observe(h, variant, size, body)
