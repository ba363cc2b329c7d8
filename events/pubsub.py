"""Valkey pub/sub: publish events, and a subscriber task that reconnects on its own."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import valkey.asyncio as avalkey

from events import names
from events.model import CloudEvent, InvalidEvent

log = logging.getLogger("discovery_lab.events.pubsub")

Handler = Callable[[CloudEvent], Awaitable[None]]
InvalidHandler = Callable[[bytes, str], Awaitable[None]]


async def publish(client: avalkey.Valkey, event: CloudEvent) -> int:
    """PUBLISH the event's JSON on the channel; returns how many subscribers got it."""
    return int(await client.publish(names.CHANNEL, event.to_json()))


class PubSubSubscriber:
    """Subscribes to the channel and hands each event to a handler, reconnecting with backoff."""

    def __init__(
        self,
        url: str,
        handler: Handler,
        *,
        on_invalid: InvalidHandler | None = None,
        health_check_interval: float = 1.0,
        max_backoff: float = 2.0,
    ) -> None:
        self.url = url
        self.handler = handler
        self.on_invalid = on_invalid
        self.health_check_interval = health_check_interval
        self.max_backoff = max_backoff
        self.state = "disconnected"
        self.connected = asyncio.Event()
        self.reconnects = 0
        self.received = 0

    async def run(self) -> None:
        """Loop until cancelled: subscribe, read, and on any connection failure start over."""
        backoff = 0.05
        first = True
        while True:
            client = avalkey.Valkey.from_url(
                self.url,
                socket_connect_timeout=1.0,
                socket_keepalive=True,
                health_check_interval=self.health_check_interval,
            )
            pubsub = client.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(names.CHANNEL)
                if not first:
                    self.reconnects += 1
                first = False
                self.state = "connected"
                self.connected.set()
                backoff = 0.05
                await self._read(pubsub)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if self.state == "connected":
                    log.warning(
                        "pub/sub connection lost (%s); reconnecting", exc.__class__.__name__
                    )
            finally:
                self.state = "disconnected"
                self.connected.clear()
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
                with contextlib.suppress(Exception):
                    await client.aclose()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self.max_backoff)

    async def _read(self, pubsub: Any) -> None:
        last_ping = time.monotonic()
        while True:
            message = await pubsub.get_message(timeout=self.health_check_interval)
            now = time.monotonic()
            if message is None:
                if now - last_ping >= self.health_check_interval:
                    await asyncio.wait_for(pubsub.ping(), timeout=self.health_check_interval * 2)
                    last_ping = now
                continue
            if message.get("type") != "message":
                continue
            await self._dispatch(message["data"])

    async def _dispatch(self, raw: bytes | str) -> None:
        data = raw if isinstance(raw, bytes) else raw.encode()
        try:
            event = CloudEvent.parse(data)
        except InvalidEvent as exc:
            if self.on_invalid is not None:
                await self.on_invalid(data, str(exc))
            return
        self.received += 1
        try:
            await self.handler(event)
        except Exception:
            log.exception("pub/sub handler failed for event %s; it is not redelivered", event.id)
