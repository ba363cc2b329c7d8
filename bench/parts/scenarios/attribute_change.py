"""Scenario 11: the operator changes users' plans (auth's own port) while the users keep calling
with the tokens they hold; how long does each service serve the old plan?"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import httpx

from bench.harness import Harness, User, Variant
from bench.parts.scenarios.base import (
    InEveryVariant,
    Observation,
    Size,
    call_everyone,
    observe,
    settle,
)
from bench.parts.scenarios.names import NEW_VALUE_MAX_KEY, ScenarioId
from bench.results import ScenarioRun, percentile
from common.settings import CONSUMER_SERVICES, Mode

OLD_PLAN, NEW_PLAN = "free", "pro"
POLL_S = 0.05  # pause between rounds of calls to the services that still serve the old plan
CONCURRENCY = 8


@dataclass
class Staleness:
    """Per (user, service): when the change was committed and when the new plan was served."""

    changed_at: dict[int, float] = field(default_factory=dict)
    served_after: dict[tuple[int, str], float] = field(default_factory=dict)
    stale_calls: int = 0
    calls: int = 0

    def pending(self, users: list[User]) -> list[tuple[User, str]]:
        return [
            (u, s)
            for u in users
            for s in CONSUMER_SERVICES
            if u.user_id in self.changed_at and (u.user_id, s) not in self.served_after
        ]


class AttributeChange(InEveryVariant):
    """The operator changes the plan of every scenario user, who keep calling with their old
    tokens."""

    id = ScenarioId.ATTRIBUTE_CHANGE
    title = "Attribute change"
    question = (
        "The operator changes users' plans while they keep calling with the tokens they already "
        "hold. How long does each service go on serving the old plan, how many calls get it, "
        "and in lazy mode what ends it: a new login, or the token's expiry?"
    )

    @staticmethod
    def users(size: Size) -> int:
        return size.users if size.quick else 24

    @staticmethod
    def window_s(size: Size) -> float:
        """How long users keep calling with their old tokens after the change."""
        return 2.0 if size.quick else 5.0

    async def run(self, h: Harness, variant: Variant, size: Size) -> ScenarioRun:
        window = self.window_s(size)

        async def body(obs: Observation) -> None:
            users = await h.register(self.users(size))
            obs.users.extend(users)
            if variant.mode is not Mode.LAZY:  # lazy consumers learn of users only from calls
                await settle(obs, time.monotonic() + 5, 0.05)
            await call_everyone(obs, "before")
            seen = Staleness()
            await _change_plans(h, users, seen)
            obs.mark("changed")
            until = time.monotonic() + window
            while (todo := seen.pending(users)) and time.monotonic() < until:
                await _poll(h, todo, seen)
                await asyncio.sleep(POLL_S)
            _figures(obs, users, seen, window)
            if variant.mode is Mode.LAZY:
                await _relogin(obs, h, users, seen)

        return await observe(h, variant, size, body)


async def _change_plans(h: Harness, users: list[User], seen: Staleness) -> None:
    """The plan is the operator's: it changes through auth's PATCH /internal/users/{id}."""
    gate = asyncio.Semaphore(CONCURRENCY)

    async def change(user: User) -> None:
        async with gate:
            try:
                await h.internal("auth", "PATCH", f"users/{user.user_id}", {"plan": NEW_PLAN})
            except httpx.HTTPError:
                return  # not counted as changed: plans_changed reports how many were
            seen.changed_at[user.user_id] = time.monotonic()

    await asyncio.gather(*(change(u) for u in users))


async def _plan(h: Harness, service: str, user: User) -> str | None:
    r = await h.http.get(
        f"http://{h.host}:{h.gateway_port}/{service}/whoami",
        headers={"Authorization": f"Bearer {user.token}"},
    )
    return r.json().get("attributes", {}).get("plan") if r.status_code == 200 else None


async def _poll(h: Harness, todo: list[tuple[User, str]], seen: Staleness) -> None:
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(user: User, service: str) -> None:
        async with gate:
            plan = await _plan(h, service, user)
        seen.calls += 1
        if plan == NEW_PLAN:
            after = time.monotonic() - seen.changed_at[user.user_id]
            seen.served_after[(user.user_id, service)] = after
        else:
            seen.stale_calls += 1

    await asyncio.gather(*(one(u, s) for u, s in todo))


def _figures(obs: Observation, users: list[User], seen: Staleness, window: float) -> None:
    times = sorted(seen.served_after.values())
    pairs = len(seen.changed_at) * len(CONSUMER_SERVICES)
    obs.figures.update(
        {
            "plans_changed": len(seen.changed_at),
            "new_value_p50_s": round(percentile(times, 50), 3) if times else None,
            NEW_VALUE_MAX_KEY: round(times[-1], 3) if times else None,
            "still_stale_after_window": pairs - len(times),
            "window_s": window,
            "stale_calls": seen.stale_calls,
            "calls": seen.calls,
        }
    )
    if pairs > len(times):
        obs.notes.append(
            f"{pairs - len(times)} of {pairs} user×service pairs still served the old plan "
            f"{window:g}s after the change"
        )


async def _relogin(obs: Observation, h: Harness, users: list[User], seen: Staleness) -> None:
    """Lazy mode: the old token never learns; a new login carries the new plan."""
    stale = {u.user_id for u, _ in seen.pending(users)}
    again = [u for u in users if u.user_id in stale]
    if not again:
        return
    started = time.monotonic()
    await h.login(again)
    served = await asyncio.gather(*(_plan(h, s, u) for u in again for s in CONSUMER_SERVICES))
    fixed = sum(plan == NEW_PLAN for plan in served)
    ttl = h.stack.settings.lab_token_ttl
    obs.figures["ended_by_new_login"] = f"{fixed}/{len(served)}"
    obs.figures["relogin_to_new_value_s"] = round(time.monotonic() - started, 3)
    obs.figures["stale_without_login_up_to_s"] = ttl
    obs.notes.append(
        f"lazy: a token keeps the plan it was minted with; {fixed} of {len(served)} stale "
        f"user×service pairs served the new plan on the first call after a new login; "
        f"without one, the old plan is served until the token expires (up to {ttl}s)"
    )
