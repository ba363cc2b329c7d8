"""Valkey Streams: append events, and a consumer-group reader with reclaim and dead letters."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import valkey.asyncio as avalkey
from valkey.exceptions import ResponseError

from events import names
from events.model import CloudEvent, InvalidEvent

log = logging.getLogger("discovery_lab.events.streams")

Handler = Callable[[CloudEvent], Awaitable[None]]
DeadHandler = Callable[[str, str], Awaitable[None]]


async def append(client: avalkey.Valkey, event: CloudEvent, *, maxlen: int) -> str:
    """XADD the event with an approximate MAXLEN; returns the entry id."""
    entry = await client.xadd(
        names.STREAM, {names.STREAM_FIELD: event.to_json()}, maxlen=maxlen, approximate=True
    )
    return entry.decode() if isinstance(entry, bytes) else str(entry)


def _text(value: Any) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


class StreamConsumer:
    """One consumer of a group: at-least-once delivery, catch-up, reclaim and dead letters."""

    def __init__(
        self,
        url: str,
        *,
        group: str,
        consumer: str,
        handler: Handler,
        dead_letter_after: int = 5,
        block_ms: int = 1000,
        claim_idle_ms: int = 5000,
        batch: int = 100,
        on_dead: DeadHandler | None = None,
        max_backoff: float = 2.0,
    ) -> None:
        self.url = url
        self.group = group
        self.consumer = consumer
        self.handler = handler
        self.dead_letter_after = dead_letter_after
        self.block_ms = block_ms
        self.claim_idle_ms = claim_idle_ms
        self.batch = batch
        self.on_dead = on_dead
        self.max_backoff = max_backoff
        self.state = "disconnected"
        self.connected = asyncio.Event()
        self.processed = 0
        self.dead_lettered = 0
        self.failures = 0
        self.reconnects = 0

    async def ensure_group(self, client: avalkey.Valkey) -> None:
        """Create the group at the start of the stream (so it replays what the stream holds)."""
        try:
            await client.xgroup_create(names.STREAM, self.group, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def lag(self, client: avalkey.Valkey) -> int | None:
        """Entries the group has not yet been delivered, plus those delivered but not acked."""
        try:
            groups = await client.xinfo_groups(names.STREAM)
        except ResponseError:
            return None
        for info in groups:
            if _text(info.get("name")) == self.group:
                lag = info.get("lag")
                pending = int(info.get("pending") or 0)
                if lag is None:
                    return None
                return int(lag) + pending
        return None

    async def run(self) -> None:
        """Loop until cancelled; reconnect with backoff when Valkey goes away."""
        backoff = 0.05
        first = True
        while True:
            client = avalkey.Valkey.from_url(
                self.url,
                socket_connect_timeout=1.0,
                socket_timeout=self.block_ms / 1000 + 5,
                socket_keepalive=True,
            )
            try:
                await self.ensure_group(client)
                if not first:
                    self.reconnects += 1
                first = False
                self.state = "connected"
                self.connected.set()
                backoff = 0.05
                await self._consume(client)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if self.state == "connected":
                    log.warning(
                        "stream consumer %s/%s lost Valkey (%s); reconnecting",
                        self.group,
                        self.consumer,
                        exc.__class__.__name__,
                    )
            finally:
                self.state = "disconnected"
                self.connected.clear()
                with contextlib.suppress(Exception):
                    await client.aclose()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self.max_backoff)

    async def _consume(self, client: avalkey.Valkey) -> None:
        await self._own_pending(client)
        last_claim = 0.0
        while True:
            now = time.monotonic()
            if now - last_claim >= max(self.claim_idle_ms / 1000 / 2, 0.05):
                await self._reclaim(client)
                last_claim = now
            block = min(self.block_ms, max(int(self.claim_idle_ms / 2), 10))
            try:
                reply = await client.xreadgroup(
                    self.group, self.consumer, {names.STREAM: ">"}, count=self.batch, block=block
                )
            except ResponseError as exc:
                if "NOGROUP" in str(exc):
                    await self.ensure_group(client)
                    continue
                raise
            for _stream, entries in reply or []:
                for entry_id, fields in entries:
                    await self._handle(client, _text(entry_id), fields, deliveries=1)

    async def _own_pending(self, client: avalkey.Valkey) -> None:
        """Finish what this consumer name had been delivered before a restart."""
        start = "0"
        while True:
            reply = await client.xreadgroup(
                self.group, self.consumer, {names.STREAM: start}, count=self.batch
            )
            entries = reply[0][1] if reply else []
            if not entries:
                return
            for entry_id, fields in entries:
                start = _text(entry_id)
                if fields:
                    await self._handle(
                        client, start, fields, deliveries=await self._deliveries(client, start)
                    )
                else:  # trimmed away while pending: nothing left to process
                    await client.xack(names.STREAM, self.group, start)

    async def _deliveries(self, client: avalkey.Valkey, entry_id: str) -> int:
        info = await client.xpending_range(
            names.STREAM, self.group, min=entry_id, max=entry_id, count=1
        )
        return int(info[0]["times_delivered"]) if info else 1

    async def _reclaim(self, client: avalkey.Valkey) -> None:
        """XAUTOCLAIM entries idle too long (a dead consumer's, or our failed ones)."""
        start = "0-0"
        while True:
            reply = await client.xautoclaim(
                names.STREAM,
                self.group,
                self.consumer,
                min_idle_time=self.claim_idle_ms,
                start_id=start,
                count=self.batch,
            )
            next_start, entries = _text(reply[0]), reply[1]
            deleted = reply[2] if len(reply) > 2 else []
            for entry_id, fields in entries:
                eid = _text(entry_id)
                await self._handle(
                    client, eid, fields, deliveries=await self._deliveries(client, eid)
                )
            for eid in deleted:
                await client.xack(names.STREAM, self.group, _text(eid))
            if next_start in ("0-0", "0") or not entries:
                return
            start = next_start

    async def _handle(
        self, client: avalkey.Valkey, entry_id: str, fields: Any, deliveries: int
    ) -> None:
        raw = _text(
            (fields or {}).get(
                names.STREAM_FIELD.encode(), (fields or {}).get(names.STREAM_FIELD, b"")
            )
        )
        try:
            event = CloudEvent.parse(raw)
        except InvalidEvent as exc:
            await self._dead_letter(client, entry_id, raw, f"invalid event: {exc}"[:300])
            return
        try:
            await self.handler(event)
        except Exception as exc:
            self.failures += 1
            if deliveries >= self.dead_letter_after:
                await self._dead_letter(
                    client, entry_id, raw, f"failed {deliveries} times: {exc.__class__.__name__}"
                )
            else:
                log.warning("event %s failed (delivery %d): %s", entry_id, deliveries, exc)
            return
        await client.xack(names.STREAM, self.group, entry_id)
        self.processed += 1

    async def _dead_letter(
        self, client: avalkey.Valkey, entry_id: str, raw: str, reason: str
    ) -> None:
        await client.xadd(
            names.DEAD_LETTER,
            {
                "id": entry_id,
                "group": self.group,
                "consumer": self.consumer,
                "reason": reason,
                "payload": raw,
            },
        )
        await client.xack(names.STREAM, self.group, entry_id)
        self.dead_lettered += 1
        log.warning("event %s dead-lettered: %s", entry_id, reason)
        if self.on_dead is not None:
            await self.on_dead(raw, reason)
