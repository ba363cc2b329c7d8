"""Pub/sub discovery: a subscriber provisions users; unknown users are refused."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from common.settings import Mode
from consumers.discovery.base import (
    Context,
    Resolution,
    count_invalid,
    handle_event,
    known_or_none,
    refuse_unknown,
)
from events.model import CloudEvent
from events.pubsub import PubSubSubscriber


class PubSubDiscovery:
    """Fire-and-forget events: what is published while this service is away is gone."""

    mode: Mode = Mode.PUBSUB

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

        async def on_event(event: CloudEvent) -> None:
            await handle_event(ctx, event)

        async def on_invalid(raw: bytes, reason: str) -> None:
            await count_invalid(ctx, raw, reason)

        self.subscriber = PubSubSubscriber(
            ctx.settings.effective_valkey_url,
            on_event,
            on_invalid=on_invalid,
        )
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self.subscriber.run(), name="pubsub-subscriber")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def resolve(self, user_id: int) -> Resolution:
        found = await known_or_none(self.ctx, user_id)
        return found if found is not None else await refuse_unknown(self.ctx, user_id)

    def subscriber_state(self) -> str:
        return str(self.subscriber.state)

    async def extra_status(self) -> dict[str, Any]:
        return {"reconnects": self.subscriber.reconnects}
