"""Lazy discovery: provision a user on the first verified call (just-in-time)."""

from __future__ import annotations

from typing import Any

from common.settings import Mode
from common.tokens import Claims
from consumers.discovery.base import Context, Resolution, provision_lazily


class LazyDiscovery:
    """Trust the verified token: an unknown user_id is a new user."""

    mode: Mode = Mode.LAZY

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def resolve(self, claims: Claims) -> Resolution:
        return await provision_lazily(self.ctx, claims)

    def subscriber_state(self) -> str:
        return "off"

    async def extra_status(self) -> dict[str, Any]:
        return {}
