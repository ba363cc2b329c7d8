"""Scenario 7: a user is deactivated; how long until each service refuses their valid token?"""

from __future__ import annotations

import asyncio
import time

from bench.harness import Harness
from bench.parts.scenarios.base import (
    InEveryVariant,
    Observation,
    Size,
    call_everyone,
    observe,
    settle,
)
from bench.parts.scenarios.names import AGE_AT_DEACTIVATION_KEY, REFUSED_SUFFIX, TTL_KEY, ScenarioId
from bench.results import ScenarioRun
from bench.variants import Variant
from common.settings import CONSUMER_SERVICES, Mode


class Deactivation(InEveryVariant):
    """Deactivate a user who holds a valid token, then keep calling until refused."""

    id = ScenarioId.DEACTIVATION
    title = "Deactivated user"
    question = (
        "A user who holds a still-valid token is deactivated. How long until each "
        "service refuses that token? Lazy discovery has no signal until it expires."
    )

    @staticmethod
    def token_ttl(size: Size) -> int:
        """The short token lifetime the benchmark runs this scenario with."""
        return 4 if size.quick else 10

    def auth_env(self, size: Size) -> dict[str, str]:
        """Auth runs this scenario with a short token lifetime."""
        return {"LAB_TOKEN_TTL": str(self.token_ttl(size))}

    async def run(self, h: Harness, variant: Variant, size: Size) -> ScenarioRun:
        ttl = self.token_ttl(size)
        cap = ttl + 3.0

        async def body(obs: Observation) -> None:
            users = await h.register(1)
            obs.users.extend(users)
            if variant.mode is not Mode.LAZY:  # lazy consumers learn of users only from calls
                await settle(obs, time.monotonic() + 5, 0.05)
            await h.login(users)  # a fresh token: its whole lifetime lies ahead
            logged_in = time.monotonic()
            await call_everyone(obs, "calls")
            user = users[0]
            r = await h.http.delete(
                f"http://{h.host}:{h.gateway_port}/auth/users/me",
                headers={"Authorization": f"Bearer {user.token}"},
            )
            obs.figures["deactivate_status"] = r.status_code
            started = time.monotonic()
            obs.figures[AGE_AT_DEACTIVATION_KEY] = round(started - logged_in, 3)
            obs.mark("deactivated")
            pending = set(CONSUMER_SERVICES)
            while pending and time.monotonic() - started < cap:
                for service in sorted(pending):
                    status = await h.call(service, user)
                    if status in (401, 403):
                        obs.figures[f"{service}{REFUSED_SUFFIX}"] = round(
                            time.monotonic() - started, 3
                        )
                        obs.figures[f"{service}_refusal_status"] = status
                        pending.discard(service)
                await asyncio.sleep(0.05)
            for service in pending:
                obs.figures[f"{service}{REFUSED_SUFFIX}"] = None
                obs.notes.append(f"{service} still served the token after {cap:.0f}s")
            obs.figures[TTL_KEY] = ttl

        return await observe(h, variant, size, body)
