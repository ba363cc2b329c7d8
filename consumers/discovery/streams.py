"""Streams discovery: a consumer group gives at-least-once delivery and catch-up."""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any

from valkey.exceptions import ValkeyClusterException, ValkeyError

from common.settings import Mode
from consumers.discovery.base import Context, EventDiscovery, count_invalid, log
from events import signing
from events.checking import CheckerProcesses, here
from events.connection import connect
from events.streams import StreamConsumer


class StreamsDiscovery(EventDiscovery):
    """One consumer group per service, one consumer per replica."""

    mode: Mode = Mode.STREAMS

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        processes = ctx.settings.lab_verify_processes
        self.checker = CheckerProcesses(processes) if processes else None

        async def on_dead(raw: str, reason: str) -> None:
            await count_invalid(ctx, raw.encode(), reason)

        url = ctx.settings.valkey_url_as(ctx.spec.name)
        self.consumer = StreamConsumer(
            url,
            group=ctx.spec.name,
            consumer=ctx.replica,
            handler=self.on_event,
            decode=ctx.stages.timed(signing.verifier(ctx.keys, ctx.stats.refused)),
            dead_letter_after=ctx.settings.lab_dead_letter_after,
            on_dead=on_dead,
            batch=ctx.settings.lab_stream_batch,
            batch_handler=self.on_events,
            decode_many=ctx.stages.timed_many(
                signing.batch_verifier(ctx.keys, ctx.stats.refused, self.checker or here)
            ),
        )
        self._client = connect(url, socket_timeout=1.0, socket_connect_timeout=0.5)

    def reader(self) -> Coroutine[Any, Any, None]:
        return self.consumer.run()

    async def stop(self) -> None:
        await super().stop()
        await self._client.aclose()
        if self.checker is not None:
            await self.checker.aclose()

    def subscriber_state(self) -> str:
        return str(self.consumer.state)

    async def extra_status(self) -> dict[str, Any]:
        try:
            lag = await self.consumer.lag(self._client)
        # Valkey away: the status still answers, with no lag.
        except (ValkeyError, ValkeyClusterException, OSError) as exc:
            # debug, not warning: status is polled several times a second while Valkey is down
            log.debug("stream lag unavailable: %r", exc)
            lag = None
        return {"stream_lag": lag, "dead_lettered": self.consumer.dead_lettered}
