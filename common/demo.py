"""The seed's sequence diagram, live: register, log in, call a service, with timings."""

from __future__ import annotations

import functools
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from common.client import ClientError, LabClient
from common.settings import CONSUMER_SERVICES


@dataclass
class Step:
    """One arrow of the diagram and what it returned."""

    title: str
    status: int
    ms: float
    body: Any


@dataclass
class DemoResult:
    """Every step of one run of the flow."""

    username: str
    steps: list[Step] = field(default_factory=list)


def run_flow(
    client: LabClient,
    *,
    on_step: Callable[[Step], None] | None = None,
    pause: Callable[[str], None] | None = None,
    username: str | None = None,
) -> DemoResult:
    """Register a fresh user, log in, and call each consumer twice through the gateway."""
    name = username or f"demo-{secrets.token_hex(3)}"
    password = secrets.token_urlsafe(12)
    result = DemoResult(name)

    def step(title: str, reply_fn: Callable[[], Any]) -> Any:
        if pause:
            pause(title)
        started = time.perf_counter()
        reply = reply_fn()
        ms = (time.perf_counter() - started) * 1000
        item = Step(title, reply.status, ms, reply.body)
        result.steps.append(item)
        if on_step:
            on_step(item)
        return reply

    reply = step(
        f"User -> gateway -> auth: POST /auth/register {{{name!r}}}",
        lambda: client.register(name, password),
    )
    if reply.status != 201:
        raise ClientError(f"register failed with {reply.status}: {reply.body}")
    reply = step("User -> gateway -> auth: POST /auth/login", lambda: client.login(name, password))
    if reply.status != 200:
        raise ClientError(f"login failed with {reply.status}: {reply.body}")
    token = reply.body["token"]
    for service in CONSUMER_SERVICES:
        for label in ("first call", "again"):
            step(
                f"User -> gateway -> {service}: GET /{service}/whoami ({label})",
                functools.partial(client.call, service, "/whoami", token),
            )
    return result
