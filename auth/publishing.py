"""How auth tells the world about users: nothing, direct publishing, or a transactional outbox."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

import valkey.asyncio as avalkey
from sqlalchemy import Connection, Engine

from common.settings import Mode, Publish, Settings
from common.tokens import SigningKey
from events import acl, connection, names, pubsub, signing, streams
from events.aio import stop_task
from events.model import CloudEvent
from events.outbox import OutboxRelay, add_to_outbox, pending_count
from events.tracing import sending

log = logging.getLogger("discovery_lab.auth.publishing")

Sender = Callable[[CloudEvent], Awaitable[object]]
HANDOVER_WAIT = 0.1  # seconds a registration waits for its outbox event to be published


@dataclass
class PublishStats:
    """Counters that survive a mode switch."""

    published: int = 0
    lost: int = 0


class Publisher(Protocol):
    """One way of publishing; staged inside the user's transaction, finished after commit."""

    mode: Mode
    publish: Publish | None

    def stage(self, conn: Connection, event: CloudEvent) -> None:
        """Called inside the transaction that writes the user row."""

    async def after_commit(self, event: CloudEvent) -> None:
        """Called once the transaction has committed."""

    async def start(self) -> None:
        """Start background work."""

    async def stop(self) -> None:
        """Stop background work."""

    async def status(self) -> dict[str, Any]:
        """Publishing fields for /internal/status."""


class NoPublisher:
    """Lazy mode: nothing is published; consumers learn users from tokens."""

    publish: Publish | None = None

    def __init__(self, mode: Mode) -> None:
        self.mode = mode

    def stage(self, conn: Connection, event: CloudEvent) -> None:
        return None

    async def after_commit(self, event: CloudEvent) -> None:
        return None

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def status(self) -> dict[str, Any]:
        return {}


class DirectPublisher(NoPublisher):
    """Publish after commit; if Valkey is unreachable the event is lost, counted and logged."""

    publish: Publish | None = Publish.DIRECT

    def __init__(self, mode: Mode, transport: Sender, stats: PublishStats) -> None:
        super().__init__(mode)
        self.transport = transport
        self.stats = stats

    async def after_commit(self, event: CloudEvent) -> None:
        try:
            await self.transport(event)
        # The user is committed: whatever stops the send loses the event (counted), never the
        # request.
        except Exception as exc:  # noqa: BLE001
            self.stats.lost += 1
            log.warning(
                "event lost: %s %s user_id=%s (%s)",
                event.type,
                event.id,
                event.data.user_id,
                exc.__class__.__name__,
            )
            return
        self.stats.published += 1


class OutboxPublisher:
    """Write the event with the user row; a relay publishes it and marks it sent."""

    publish: Publish | None = Publish.OUTBOX

    def __init__(
        self,
        mode: Mode,
        transport: Sender,
        stats: PublishStats,
        engine: Engine,
        poll_interval: float,
        resend_window: float = 0.0,
    ) -> None:
        self.mode = mode
        self.stats = stats
        self.engine = engine

        async def counted(event: CloudEvent) -> object:
            result = await transport(event)
            stats.published += 1
            return result

        self.relay = OutboxRelay(
            engine, counted, poll_interval=poll_interval, resend_window=resend_window
        )
        self._task: asyncio.Task[None] | None = None

    def stage(self, conn: Connection, event: CloudEvent) -> None:
        add_to_outbox(conn, event)

    async def after_commit(self, event: CloudEvent) -> None:
        # Like direct publishing, answer once the event is out, but never wait long for it:
        # if Valkey is slow or down the row stays pending and the relay keeps trying.
        await self.relay.handover(event, wait=HANDOVER_WAIT)

    async def start(self) -> None:
        self._task = asyncio.create_task(self.relay.run(), name="outbox-relay")

    async def stop(self) -> None:
        await stop_task(self._task)
        self._task = None

    async def status(self) -> dict[str, Any]:
        return {"relay_last_error": self.relay.last_error, "outbox_resent": self.relay.resent}


def replica_wait(settings: Settings) -> streams.WaitReplicas | None:
    """LAB_STREAM_WAIT_REPLICAS as a pinned connection to the stream's primary, or None."""
    if settings.lab_stream_wait_replicas <= 0:
        return None
    pinned = connection.Pinned(
        settings.valkey_url_as(acl.PUBLISHER),
        names.STREAM,
        socket_timeout=1.0 + settings.lab_stream_wait_timeout / 1000,
        socket_connect_timeout=0.5,
    )
    return streams.WaitReplicas(
        pinned, settings.lab_stream_wait_replicas, settings.lab_stream_wait_timeout
    )


def connect(settings: Settings) -> avalkey.Valkey:
    """auth's Valkey client, as the ACL user that may only publish and append."""
    return connection.connect(
        settings.valkey_url_as(acl.PUBLISHER), socket_timeout=1.0, socket_connect_timeout=0.5
    )


def build_publisher(
    mode: Mode,
    publish: Publish,
    *,
    client: avalkey.Valkey,
    engine: Engine,
    stream_maxlen: int,
    poll_interval: float,
    stats: PublishStats,
    active_key: Callable[[], SigningKey],
    wait: streams.WaitReplicas | None = None,
    resend_window: float = 0.0,
) -> Publisher:
    """The one place that turns (mode, publish) into a publisher; events leave signed. With
    `wait`, the outbox marks a stream row sent only once replicas hold it."""
    if mode is Mode.LAZY:
        return NoPublisher(mode)
    sign_with_key = signing.signer(active_key)

    def sign(event: CloudEvent) -> str:
        # publishmono: the moment the event leaves for Valkey, inside what the signature covers
        return sign_with_key(event.stamped(publishmono=time.monotonic_ns()))

    async def to_channel(event: CloudEvent) -> object:
        return await pubsub.publish(client, sign(event))

    async def to_stream(event: CloudEvent) -> object:
        return await streams.append(client, sign(event), maxlen=stream_maxlen)

    async def to_stream_replicated(event: CloudEvent) -> object:
        assert wait is not None
        return await streams.append_replicated(wait, sign(event), maxlen=stream_maxlen)

    transport: Sender = to_channel if mode.transport == "pubsub" else to_stream
    destination = names.CHANNEL if mode.transport == "pubsub" else names.STREAM
    if publish is Publish.OUTBOX and wait is not None and mode.transport == "stream":
        transport = to_stream_replicated
    traced = _traced(transport, destination)
    if publish is Publish.OUTBOX:
        return OutboxPublisher(mode, traced, stats, engine, poll_interval, resend_window)
    return DirectPublisher(mode, traced, stats)


def _traced(transport: Sender, destination: str) -> Sender:
    """The transport inside a producer span whose context the event carries (when tracing)."""

    async def send(event: CloudEvent) -> object:
        with sending(event, destination) as carrying:
            return await transport(carrying)

    return send


async def outbox_pending(engine: Engine) -> int:
    """Unsent outbox rows, counted off the event loop."""
    return await asyncio.to_thread(pending_count, engine)
