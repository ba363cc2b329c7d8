"""Valkey pub/sub: publish events, and a subscriber task that reconnects on its own."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import valkey.asyncio as avalkey
from valkey.exceptions import ConnectionError as ValkeyConnectionError

from common.tracing import valkey_span
from events import names
from events.aio import raise_if_cancelling
from events.connection import cluster_nodes, is_cluster, node_url
from events.model import CloudEvent, InvalidEvent
from events.signing import Decoder
from events.tracing import processing

log = logging.getLogger("discovery_lab.events.pubsub")

Handler = Callable[[CloudEvent], Awaitable[None]]
InvalidHandler = Callable[[bytes, str], Awaitable[None]]

FIRST_BACKOFF = 0.05


async def publish(client: avalkey.Valkey, message: str) -> int:
    """PUBLISH a (signed) event's JSON on the channel; returns how many subscribers got it
    (on a cluster: how many on the node it was sent to, which forwards it to every other).
    A raw command because the cluster client has no `publish` method."""
    with valkey_span("PUBLISH", names.CHANNEL):
        return int(await client.execute_command("PUBLISH", names.CHANNEL, message))


class PubSubSubscriber:
    """Subscribes to the channel and hands each event that `decode` accepts to a handler,
    reconnecting with backoff."""

    def __init__(
        self,
        url: str,
        handler: Handler,
        decode: Decoder,
        *,
        on_invalid: InvalidHandler | None = None,
        health_check_interval: float = 1.0,
        max_backoff: float = 1.0,
    ) -> None:
        self.url = url
        self.handler = handler
        self.decode = decode
        self.on_invalid = on_invalid
        self.health_check_interval = health_check_interval
        self.max_backoff = max_backoff
        self.state = "disconnected"
        self.connected = asyncio.Event()
        self.reconnects = 0
        self.received = 0
        self.invalid = 0
        self.handler_errors = 0
        self._ever_subscribed = False
        self._backoff = FIRST_BACKOFF
        self._nodes: list[str] = []  # a cluster's nodes, as last reported
        self._turn = 0

    async def _node(self, timeout: float) -> str:
        """Where to subscribe: the URL's node, or on a cluster the next node in turn (a
        classic SUBSCRIBE on any node hears every PUBLISH; a failed node is skipped)."""
        if not is_cluster(self.url):
            return self.url
        with contextlib.suppress(Exception):  # every known node down: try them in turn
            self._nodes = await cluster_nodes(self.url, self._nodes, socket_connect_timeout=timeout)
        nodes = self._nodes or [node_url(self.url)]
        return nodes[self._turn % len(nodes)]

    async def run(self) -> None:
        """Loop until cancelled: subscribe, read, and on any connection failure start over."""
        self._backoff = FIRST_BACKOFF
        while True:
            raise_if_cancelling()
            timeout = max(2 * self.health_check_interval, 1.0)
            client = avalkey.Valkey.from_url(
                await self._node(timeout),
                socket_connect_timeout=timeout,
                socket_timeout=timeout,
                socket_keepalive=True,
            )
            pubsub = client.pubsub()
            try:
                await pubsub.subscribe(names.CHANNEL)
                await self._session(pubsub)
            except Exception as exc:  # noqa: BLE001 - the subscriber's supervisor: it reconnects
                self._turn += 1
                if self.state == "connected":
                    log.warning(
                        "pub/sub connection lost (%s: %s); reconnecting",
                        exc.__class__.__name__,
                        exc,
                    )
            finally:
                self.state = "disconnected"
                self.connected.clear()
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
                with contextlib.suppress(Exception):
                    await client.aclose()
            await asyncio.sleep(self._backoff)
            self._backoff = min(self._backoff * 2, self.max_backoff)

    def _subscribed(self) -> None:
        """The server confirmed the subscription: from now on nothing published is missed."""
        if self._ever_subscribed:
            self.reconnects += 1
        self._ever_subscribed = True
        self._backoff = FIRST_BACKOFF
        self.state = "connected"
        self.connected.set()

    async def _session(self, pubsub: Any) -> None:
        """Read messages until Valkey goes away (which raises); idle links are pinged."""
        loop = asyncio.get_running_loop()
        interval = self.health_check_interval
        silence_limit = max(3 * interval, 1.0)
        last_seen = last_ping = loop.time()
        while True:
            raise_if_cancelling()
            message = await pubsub.get_message(timeout=interval)
            now = loop.time()
            if message is None:
                if now - last_seen > silence_limit:
                    raise ValkeyConnectionError(f"no reply from Valkey for {now - last_seen:.1f}s")
                if now - last_ping >= interval:
                    await pubsub.ping()  # the pong proves the connection is alive
                    last_ping = now
                continue
            kind = message.get("type")
            if kind == "subscribe":
                self._subscribed()
            elif kind == "message":
                await self._dispatch(message["data"])
            last_seen = loop.time()

    async def _dispatch(self, raw: bytes | str) -> None:
        """Decode one message and hand it on; a failing handler never stops the subscriber."""
        data = raw if isinstance(raw, bytes) else raw.encode()
        try:
            event = await self.decode(data)
        except InvalidEvent as exc:
            self.invalid += 1
            if self.on_invalid is not None:
                try:
                    await self.on_invalid(data, str(exc))
                except Exception:
                    log.exception("pub/sub on_invalid callback failed")
            return
        except Exception:  # keys not available yet: the event cannot be checked, so it is lost
            self.handler_errors += 1
            log.exception("pub/sub event could not be verified; it is not redelivered")
            return
        self.received += 1
        try:
            with processing([event], names.CHANNEL):
                await self.handler(event)
        except Exception:
            self.handler_errors += 1
            log.exception("pub/sub handler failed for event %s; it is not redelivered", event.id)
