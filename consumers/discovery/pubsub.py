"""Pub/sub discovery: a subscriber provisions users; unknown users are refused."""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any

from common.settings import Mode
from consumers.discovery.base import Context, EventDiscovery, count_invalid
from events import signing
from events.pubsub import PubSubSubscriber


class PubSubDiscovery(EventDiscovery):
    """Fire-and-forget events: what is published while this service is away is gone."""

    mode: Mode = Mode.PUBSUB

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)

        async def on_invalid(raw: bytes, reason: str) -> None:
            await count_invalid(ctx, raw, reason)

        self.subscriber = PubSubSubscriber(
            ctx.settings.valkey_url_as(ctx.spec.name),
            self.on_event,
            ctx.stages.timed(signing.verifier(ctx.keys, ctx.stats.refused)),
            on_invalid=on_invalid,
        )

    def reader(self) -> Coroutine[Any, Any, None]:
        return self.subscriber.run()

    def subscriber_state(self) -> str:
        return str(self.subscriber.state)

    async def extra_status(self) -> dict[str, Any]:
        return {"reconnects": self.subscriber.reconnects}
