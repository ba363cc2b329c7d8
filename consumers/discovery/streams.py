"""Streams discovery: a consumer group gives at-least-once delivery and catch-up."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import valkey.asyncio as avalkey

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
from events.streams import StreamConsumer


class StreamsDiscovery:
    """One consumer group per service, one consumer per replica."""

    mode: Mode = Mode.STREAMS

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

        async def on_event(event: CloudEvent) -> None:
            await handle_event(ctx, event)

        async def on_dead(raw: str, reason: str) -> None:
            await count_invalid(ctx, raw.encode(), reason)

        self.consumer = StreamConsumer(
            ctx.settings.effective_valkey_url,
            group=ctx.spec.name,
            consumer=ctx.replica,
            handler=on_event,
            dead_letter_after=ctx.settings.lab_dead_letter_after,
            on_dead=on_dead,
        )
        self._client = avalkey.Valkey.from_url(
            ctx.settings.effective_valkey_url, socket_timeout=1.0, socket_connect_timeout=0.5
        )
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self.consumer.run(), name="stream-consumer")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._client.aclose()

    async def resolve(self, user_id: int) -> Resolution:
        found = await known_or_none(self.ctx, user_id)
        return found if found is not None else await refuse_unknown(self.ctx, user_id)

    def subscriber_state(self) -> str:
        return str(self.consumer.state)

    async def extra_status(self) -> dict[str, Any]:
        try:
            lag = await self.consumer.lag(self._client)
        except Exception:
            lag = None
        return {"stream_lag": lag, "dead_lettered": self.consumer.dead_lettered}
