"""Scenario 6: 50 concurrent first calls for one new user, right after registration."""

from __future__ import annotations

import functools

from bench.harness import Harness
from bench.loadgen import Request, closed_loop, get_request
from bench.parts.scenarios.base import InEveryVariant, Observation, Size, observe, status_counts
from bench.parts.scenarios.names import ScenarioId
from bench.results import ScenarioRun
from bench.variants import Variant

CALLS = 50


class ConcurrentFirstCalls(InEveryVariant):
    """A new user fires 50 calls at once at each service before anything settled."""

    id = ScenarioId.CONCURRENT_FIRST_CALLS
    title = "50 concurrent first calls"
    question = (
        "A user registers, logs in and at once makes 50 concurrent calls to each "
        "service. How many provisions, welcome messages and refusals result?"
    )

    async def run(self, h: Harness, variant: Variant, size: Size) -> ScenarioRun:
        async def body(obs: Observation) -> None:
            users = await h.register(1)
            await h.login(users)
            obs.users.extend(users)
            user = users[0]
            for service in ("profiles", "notifications"):
                req = get_request(f"/{service}/whoami", user.token)
                result = await closed_loop(
                    h.host,
                    h.gateway_port,
                    functools.partial(_same, req),
                    total=CALLS,
                    concurrency=CALLS,
                    keep_replies=True,
                )
                firsts = sum(
                    1
                    for _, reply in result.replies
                    if reply.status == 200 and reply.json().get("first_call")
                )
                obs.figures[f"{service}_statuses"] = status_counts(result.statuses)
                obs.figures[f"{service}_first_call_true"] = firsts
            obs.mark("calls")

        return await observe(h, variant, size, body)


def _same(request: Request, _index: int) -> Request:
    return request
