"""Valkey Streams: append events, and a consumer-group reader with reclaim and dead letters."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import valkey.asyncio as avalkey
from valkey.exceptions import ResponseError

from common.tracing import valkey_span
from events import names
from events.aio import raise_if_cancelling
from events.connection import Pinned, connect
from events.model import CloudEvent, InvalidEvent
from events.signing import BatchDecoder, Decoder
from events.tracing import processing

log = logging.getLogger("discovery_lab.events.streams")


class Unavailable(Exception):
    """The handler cannot apply events now (its storage is down): the entry stays pending, and
    this delivery does not count toward dead-lettering, which is for events at fault."""


Handler = Callable[[CloudEvent], Awaitable[None]]
# Applies a batch of events at once (one transaction), in stream order; raises like Handler.
BatchHandler = Callable[[list[CloudEvent]], Awaitable[None]]
DeadHandler = Callable[[str, str], Awaitable[None]]
# Told of each batch of new entries: how many, and the seconds from XREADGROUP to XACK.
BatchObserver = Callable[[int, float], None]

FIRST_BACKOFF = 0.05
LAG_SCAN_LIMIT = 10_000
CLAIM_IDLE_MS = 5000  # a pending entry idle this long is reclaimed and retried
MAX_BACKOFF_S = 1.0  # the longest wait before reconnecting to Valkey


def claim_period_s(claim_idle_ms: int) -> float:
    """How often a consumer looks for idle pending entries."""
    return max(claim_idle_ms / 2000, 0.05)


def longest_redelivery_s(claim_idle_ms: int = CLAIM_IDLE_MS) -> float:
    """The longest a failed delivery waits for its retry: idle, one claim period, a reconnect."""
    return claim_idle_ms / 1000 + claim_period_s(claim_idle_ms) + MAX_BACKOFF_S


async def append(client: avalkey.Valkey, message: str, *, maxlen: int) -> str:
    """XADD a (signed) event's JSON with an approximate MAXLEN; returns the entry id."""
    with valkey_span("XADD", names.STREAM):
        entry = await client.xadd(
            names.STREAM, {names.STREAM_FIELD: message}, maxlen=maxlen, approximate=True
        )
    return _text(entry)


class NotReplicated(RuntimeError):
    """WAIT timed out before enough replicas acknowledged an appended entry."""


@dataclass
class WaitReplicas:
    """After XADD, WAIT for this many replicas (LAB_STREAM_WAIT_REPLICAS) on one connection
    to the stream's primary."""

    pinned: Pinned
    replicas: int
    timeout_ms: int


async def append_replicated(wait: WaitReplicas, message: str, *, maxlen: int) -> str:
    """XADD, then WAIT until enough replicas hold the entry, or raise NotReplicated: the
    outbox then keeps the row and sends it again (a duplicate that consumers ignore), so an
    entry that only the old primary held survives a failover."""
    async with wait.pinned.lock:
        try:
            client = await wait.pinned.client()
            entry = await append(client, message, maxlen=maxlen)
            with valkey_span("WAIT", names.STREAM):
                acked = int(await client.execute_command("WAIT", wait.replicas, wait.timeout_ms))
        except Exception:
            await wait.pinned.reset()  # a failover moved the slot, or the node is gone
            raise
    if acked < wait.replicas:
        raise NotReplicated(f"entry {entry}: {acked} of {wait.replicas} replicas within WAIT")
    return entry


def _text(value: Any) -> str:
    """Decode a reply value that may be bytes."""
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def _is_nogroup(exc: ResponseError) -> bool:
    """True for the error Valkey gives when the stream or the group is missing."""
    return str(exc).startswith("NOGROUP")


@dataclass(slots=True)  # not frozen: a frozen dataclass is slow to build, one per event
class _Decoded:
    """A delivered entry whose event was verified, waiting to be applied."""

    entry_id: str
    raw: str
    event: CloudEvent
    deliveries: int


class StreamConsumer:
    """One consumer of a group: at-least-once delivery, catch-up, reclaim and dead letters.

    With a batch handler, each XREADGROUP batch (up to `batch` entries) is verified entry by
    entry, applied in one call, and acknowledged with one XACK after that call returns: a
    crash before the XACK leaves the whole batch pending, and the idempotent handler ignores
    what it had already applied. An entry that fails verification is dead-lettered on its own
    and the rest of the batch goes on. If the batch call fails for another reason than
    Unavailable, its events are applied again one at a time, so only the event at fault is
    retried and, in the end, dead-lettered.
    """

    def __init__(
        self,
        url: str,
        *,
        group: str,
        consumer: str,
        handler: Handler,
        decode: Decoder,
        dead_letter_after: int = 5,
        block_ms: int = 1000,
        claim_idle_ms: int = CLAIM_IDLE_MS,
        batch: int = 100,
        on_dead: DeadHandler | None = None,
        max_backoff: float = MAX_BACKOFF_S,
        batch_handler: BatchHandler | None = None,
        on_batch: BatchObserver | None = None,
        decode_many: BatchDecoder | None = None,
    ) -> None:
        self.url = url
        self.group = group
        self.dead_letter_stream = names.dead_letter(group)  # the group is the service
        self.consumer = consumer
        self.handler = handler
        self.decode = decode
        self.dead_letter_after = max(1, dead_letter_after)
        self.block_ms = block_ms
        self.claim_idle_ms = claim_idle_ms
        self.batch = batch
        self.on_dead = on_dead
        self.max_backoff = max_backoff
        self.batch_handler = batch_handler
        self.on_batch = on_batch
        self.decode_many = decode_many
        self._applying: asyncio.Task[None] | None = None  # the batch being applied, if any
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
        """Entries the group has not finished: never delivered plus delivered but not acked."""
        try:
            groups = await client.xinfo_groups(names.STREAM)
        except ResponseError:
            return None
        for info in groups:
            if _text(info.get("name")) != self.group:
                continue
            pending = int(info.get("pending") or 0)
            undelivered = info.get("lag")
            if undelivered is None:  # Valkey cannot tell (e.g. deleted entries): count them
                last = _text(info.get("last-delivered-id") or "0-0")
                unread = await client.xrange(
                    names.STREAM, min=f"({last}", max="+", count=LAG_SCAN_LIMIT
                )
                undelivered = len(unread)
            return int(undelivered) + pending
        return None

    async def run(self) -> None:
        """Loop until cancelled; reconnect with backoff when Valkey goes away."""
        backoff = FIRST_BACKOFF
        first = True
        while True:
            raise_if_cancelling()
            client = connect(
                self.url,
                socket_connect_timeout=1.0,
                socket_keepalive=True,
                socket_timeout=self._block_ms() / 1000 + 2,
            )
            try:
                await self.ensure_group(client)
                if not first:
                    self.reconnects += 1
                first = False
                self.state = "connected"
                self.connected.set()
                backoff = FIRST_BACKOFF
                await self._consume(client)
            except Exception as exc:  # noqa: BLE001 - the reader's supervisor: it reconnects
                if self.state == "connected":
                    log.warning(
                        "stream consumer %s/%s lost Valkey (%s: %s); reconnecting",
                        self.group,
                        self.consumer,
                        exc.__class__.__name__,
                        exc,
                    )
            finally:
                self.state = "disconnected"
                self.connected.clear()
                with contextlib.suppress(Exception):
                    await client.aclose()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self.max_backoff)

    def _block_ms(self) -> int:
        """How long one XREADGROUP may block: short enough to reclaim on time."""
        return max(10, min(self.block_ms, self.claim_idle_ms // 2))

    async def _consume(self, client: avalkey.Valkey) -> None:
        """Finish our own pending entries, then read new ones and reclaim idle ones forever."""
        try:
            await self._own_pending(client)
            claim_every = claim_period_s(self.claim_idle_ms)
            last_claim = -claim_every
            while True:
                raise_if_cancelling()
                try:
                    if time.monotonic() - last_claim >= claim_every:
                        await self._reclaim(client)
                        last_claim = time.monotonic()
                    await self._read_new(client)
                except ResponseError as exc:
                    if not _is_nogroup(exc):
                        raise
                    log.warning(
                        "stream or group %s vanished (Valkey lost its data?); recreating",
                        self.group,
                    )
                    await self.ensure_group(client)
        finally:
            await self._drain()

    async def _read_new(self, client: avalkey.Valkey) -> None:
        """One XREADGROUP for never-delivered entries, handled as one batch.

        The batch is verified at once, then applied and acknowledged in the background while
        the next batch is read and verified: batches still apply one after another, in stream
        order, since each waits for the one before it.
        """
        reply = await client.xreadgroup(
            self.group, self.consumer, {names.STREAM: ">"}, count=self.batch, block=self._block_ms()
        )
        started = time.perf_counter()  # after the read: a blocked XREADGROUP is idle time
        entries = reply[0][1] if reply else []
        if not entries:
            return
        decoded = await self._verified(client, entries, {})
        await self._settle()
        self._applying = asyncio.create_task(
            self._apply_all(client, decoded, len(entries), started)
        )

    async def _settle(self) -> None:
        """Wait until the batch being applied is done; raise what its acknowledgement raised."""
        task, self._applying = self._applying, None
        if task is not None:
            await task

    async def _drain(self) -> None:
        """Let the batch in flight finish as the reader stops, or cancel it with the reader
        (its entries then stay pending and are delivered again)."""
        task, self._applying = self._applying, None
        if task is None:
            return
        current = asyncio.current_task()
        if current is not None and current.cancelling():
            task.cancel()
        await asyncio.wait([task])
        if not task.cancelled() and task.exception() is not None:
            log.warning("a batch of %s was left pending: %r", self.group, task.exception())

    async def _own_pending(self, client: avalkey.Valkey) -> None:
        """Finish what this consumer name had been delivered before a restart."""
        start = "0"
        while True:
            raise_if_cancelling()
            reply = await client.xreadgroup(
                self.group, self.consumer, {names.STREAM: start}, count=self.batch
            )
            entries = reply[0][1] if reply else []
            if not entries:
                return
            await self._handle_delivered(client, entries)
            start = _text(entries[-1][0])

    async def _reclaim(self, client: avalkey.Valkey) -> None:
        """XAUTOCLAIM entries idle too long (a dead consumer's, or our own failed ones)."""
        start = "0-0"
        while True:
            raise_if_cancelling()
            reply = await client.xautoclaim(
                names.STREAM,
                self.group,
                self.consumer,
                min_idle_time=self.claim_idle_ms,
                start_id=start,
                count=self.batch,
            )
            next_start, entries = _text(reply[0]), reply[1]
            for gone in reply[2] if len(reply) > 2 else []:  # deleted while pending
                await client.xack(names.STREAM, self.group, _text(gone))
            await self._handle_delivered(client, entries)
            if next_start == "0-0":
                return
            start = next_start

    async def _handle_delivered(self, client: avalkey.Valkey, entries: list[Any]) -> None:
        """Handle entries delivered before, knowing how often each one was delivered."""
        if not entries:
            return
        ids = [_text(entry_id) for entry_id, _ in entries]
        info = await client.xpending_range(
            names.STREAM,
            self.group,
            min=ids[0],
            max=ids[-1],
            count=len(ids),
            consumername=self.consumer,
        )
        deliveries = {_text(row["message_id"]): int(row["times_delivered"]) for row in info}
        for missing in set(ids) - deliveries.keys():  # crowded out by other pending entries
            one = await client.xpending_range(
                names.STREAM, self.group, min=missing, max=missing, count=1
            )
            deliveries[missing] = int(one[0]["times_delivered"]) if one else 1
        await self._handle_entries(client, entries, deliveries)

    async def _handle_entries(
        self, client: avalkey.Valkey, entries: list[Any], deliveries: dict[str, int]
    ) -> None:
        """Verify each entry, then apply them once the batch before them is done."""
        decoded = await self._verified(client, entries, deliveries)
        await self._settle()
        await self._apply_all(client, decoded)

    async def _apply_all(
        self,
        client: avalkey.Valkey,
        decoded: list[_Decoded],
        read: int = 0,
        started: float | None = None,
    ) -> None:
        """Apply verified events: together with a batch handler, else one by one; then tell
        the observer how many entries were read and how long they took since."""
        if self.batch_handler is not None:
            if decoded:
                await self._apply_batch(client, decoded)
        else:
            for one in decoded:
                await self._apply(client, one)
        if self.on_batch is not None and started is not None:
            self.on_batch(read, time.perf_counter() - started)

    async def _verified(
        self, client: avalkey.Valkey, entries: list[Any], deliveries: dict[str, int]
    ) -> list[_Decoded]:
        """The entries whose events verify, in order. Poison and refused (unsigned or forged)
        entries are dead-lettered; undecodable ones (keys not available yet) are left to be
        retried like a failed handler."""
        messages: list[tuple[str, str]] = []
        for entry_id_value, fields in entries:
            entry_id = _text(entry_id_value)
            if not fields:  # trimmed away while pending: nothing left to process
                await client.xack(names.STREAM, self.group, entry_id)
                continue
            raw_value = fields.get(names.STREAM_FIELD.encode())
            if raw_value is None:
                reason = f"no {names.STREAM_FIELD!r} field"
                await self._dead_letter(client, entry_id, "", reason, fields)
                continue
            messages.append((entry_id, _text(raw_value)))
        outcomes = await self._decode_all([raw for _, raw in messages])
        decoded: list[_Decoded] = []
        for (entry_id, raw), outcome in zip(messages, outcomes, strict=True):
            if isinstance(outcome, InvalidEvent):
                await self._dead_letter(client, entry_id, raw, f"invalid event: {outcome}"[:300])
            elif isinstance(outcome, Exception):
                await self._failed(entry_id, raw, deliveries.get(entry_id, 1), outcome, client)
            else:
                decoded.append(_Decoded(entry_id, raw, outcome, deliveries.get(entry_id, 1)))
        return decoded

    async def _decode_all(self, raws: list[str]) -> list[CloudEvent | Exception]:
        """Each message's event or the exception decoding it raised: all at once where a batch
        decoder is given, else one by one."""
        if self.decode_many is not None:
            return await self.decode_many(raws)
        outcomes: list[CloudEvent | Exception] = []
        for raw in raws:
            try:
                outcomes.append(await self.decode(raw))
            except Exception as exc:  # noqa: BLE001 - the outcome of that message
                outcomes.append(exc)
        return outcomes

    async def _apply_batch(self, client: avalkey.Valkey, batch: list[_Decoded]) -> None:
        """Apply verified events in one call and ack them with one XACK, in a consumer span."""
        with processing([one.event for one in batch], names.STREAM, self.group):
            await self._apply_batch_untraced(client, batch)

    async def _apply_batch_untraced(self, client: avalkey.Valkey, batch: list[_Decoded]) -> None:
        """Apply verified events in one call and ack them with one XACK after it returns."""
        assert self.batch_handler is not None
        try:
            await self.batch_handler([one.event for one in batch])
        except Unavailable as exc:
            self.failures += 1
            log.warning("%d events left pending: %s", len(batch), exc)
            return
        # Any other failure: the event at fault is found by applying them one at a time.
        except Exception as exc:  # noqa: BLE001
            log.warning(
                "a batch of %d events failed (%s: %s); applying them one at a time",
                len(batch),
                exc.__class__.__name__,
                exc,
            )
            for one in batch:
                await self._apply(client, one)
            return
        with valkey_span("XACK", names.STREAM):
            await client.xack(names.STREAM, self.group, *(one.entry_id for one in batch))
        self.processed += len(batch)

    async def _apply(self, client: avalkey.Valkey, one: _Decoded) -> None:
        """Handle one verified event in a consumer span of its own."""
        with processing([one.event], names.STREAM, self.group):
            await self._apply_untraced(client, one)

    async def _apply_untraced(self, client: avalkey.Valkey, one: _Decoded) -> None:
        """Handle one verified event; ack on success, or count the failure toward its
        dead letter."""
        entry_id, raw, event, deliveries = one.entry_id, one.raw, one.event, one.deliveries
        try:
            await self.handler(event)
        except Unavailable as exc:
            self.failures += 1
            log.warning("event %s left pending: %s", entry_id, exc)
            return
        # Any handler failure counts towards the dead letter: a poison event never stalls.
        except Exception as exc:  # noqa: BLE001
            await self._failed(entry_id, raw, deliveries, exc, client)
            return
        with valkey_span("XACK", names.STREAM):
            await client.xack(names.STREAM, self.group, entry_id)
        self.processed += 1

    async def _failed(
        self, entry_id: str, raw: str, deliveries: int, exc: Exception, client: avalkey.Valkey
    ) -> None:
        """Leave a failed entry pending for redelivery, or dead-letter it after too many."""
        self.failures += 1
        if deliveries >= self.dead_letter_after:
            reason = f"failed {deliveries} times: {exc.__class__.__name__}: {exc}"
            await self._dead_letter(client, entry_id, raw, reason[:300])
            return
        log.warning(
            "event %s failed (delivery %d of %d): %s",
            entry_id,
            deliveries,
            self.dead_letter_after,
            exc,
        )

    async def _dead_letter(
        self, client: avalkey.Valkey, entry_id: str, raw: str, reason: str, fields: Any = None
    ) -> None:
        """Copy the entry to the group's dead-letter stream, then ack it so later events keep
        flowing."""
        if not raw and fields:
            raw = repr({_text(k): _text(v) for k, v in fields.items()})
        with valkey_span("XADD", self.dead_letter_stream):
            await client.xadd(
                self.dead_letter_stream,
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
        log.warning("event %s dead-lettered for group %s: %s", entry_id, self.group, reason)
        if self.on_dead is not None:
            try:
                await self.on_dead(raw, reason)
            except Exception:
                log.exception("on_dead callback failed for %s", entry_id)
