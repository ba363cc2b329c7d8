"""Scenario 4: auth crashes between the commit and the publish; direct vs outbox."""

from __future__ import annotations

import secrets

import jwt

from bench.harness import PASSWORD, Harness, User
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


class CrashAfterCommit:
    """The fault switch kills auth right after committing a user, before publishing."""

    id = ScenarioId.CRASH_AFTER_COMMIT
    title = "Crash between commit and publish"
    question = (
        "Auth dies after committing each new user and before publishing its event. "
        "Which users do the services ever learn?"
    )

    def variants(self, base: list[Variant]) -> list[Variant]:
        return with_both_publishings(base)

    def auth_env(self, size: Size) -> dict[str, str]:
        """Auth runs this whole scenario with the fault switch on."""
        return {"LAB_FAULT_CRASH_AFTER_COMMIT": "true"}

    async def run(self, h: Harness, variant: Variant, size: Size) -> ScenarioRun:
        crashes = 1 if size.quick else 4
        tag = secrets.token_hex(3)
        names = [f"crash-{tag}-{i}" for i in range(crashes)]

        async def body(obs: Observation) -> None:
            statuses = []
            for name in names:
                status, _ = await h.register_one(name)  # auth dies after the commit
                statuses.append(status)
                await h.start("auth")  # still with the fault switch: it fires on register only
            obs.figures["crashes"] = crashes
            obs.figures["register_statuses"] = statuses
            await h.wait_subscribers(variant.mode)
            obs.mark("auth_back")
            obs.users.extend(await committed(h, names))
            obs.figures["committed_before_crash"] = len(obs.users)
            await call_everyone(obs, "calls")

        return await observe(h, variant, size, body)


async def committed(h: Harness, names: list[str]) -> list[User]:
    """The users auth committed before it died: they can log in."""
    users = []
    for name in names:
        r = await h.http.post(
            f"http://{h.host}:{h.gateway_port}/auth/login",
            json={"username": name, "password": PASSWORD},
        )
        if r.status_code == 200:
            token = r.json()["token"]
            user_id = int(jwt.decode(token, options={"verify_signature": False})["user_id"])
            users.append(User(user_id, name, token))
    return users
