"""The transactional outbox: event rows written with the user row, published by a relay.

On PostgreSQL any number of relays (one per auth process) share the table: each claims rows
with `SELECT ... FOR UPDATE SKIP LOCKED`, publishes them and marks them sent in the claiming
transaction, so no row is published twice and none is skipped (a row locked by another relay is
its to publish; if that relay dies, its locks go and the row is claimed again). A row is claimed
only once every earlier row of its user is sent, so one user's events leave in the order they
were written whichever relay publishes them. SQLite holds one auth process, with one relay.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    Connection,
    DateTime,
    Engine,
    Select,
    exists,
    func,
    insert,
    inspect,
    select,
    text,
    update,
)
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Field, SQLModel

from events.aio import raise_if_cancelling
from events.model import CloudEvent, InvalidEvent

log = logging.getLogger("discovery_lab.events.outbox")

FIRST_BACKOFF = 0.05
MARK_DELAY = 0.05  # how long the fast path waits for more events before recording them as sent


# columns added after the table's first release, with the ALTER that old state dirs need
ADDED_COLUMNS = ("user_id", "traceparent", "tracestate")


def _now() -> datetime:
    return datetime.now(UTC)


class OutboxRow(SQLModel, table=True):
    """An event waiting to be published (sent_at is null) or already published."""

    __tablename__ = "outbox"

    id: int | None = Field(default=None, primary_key=True)
    event_id: str = Field(unique=True, max_length=200)
    type: str = Field(max_length=64)
    payload: str
    created_at: datetime = Field(default_factory=_now, sa_type=DateTime(timezone=True))
    sent_at: datetime | None = Field(default=None, index=True, sa_type=DateTime(timezone=True))
    attempts: int = 0
    # whose event: a relay claims a row only once the earlier rows of its user are sent
    user_id: int | None = Field(default=None, index=True)
    # the trace context the event was written in (CloudEvents distributed tracing), so the
    # relay's send continues that trace; null when tracing was off
    traceparent: str | None = Field(default=None, max_length=64)
    tracestate: str | None = Field(default=None, max_length=512)


outbox = OutboxRow.__table__  # type: ignore[attr-defined]


def create_outbox_table(engine: Engine) -> None:
    """Create the outbox table, or add the columns that a table written before them lacks:
    user_id (old rows have no user: they are claimed in id order alone), and the trace
    context (old rows have none)."""
    SQLModel.metadata.create_all(engine, tables=[outbox])
    present = {c["name"] for c in inspect(engine).get_columns("outbox")}
    missing = [c for c in ADDED_COLUMNS if c not in present]
    if not missing:
        return
    # PostgreSQL: auth replicas starting together may race to add a column
    guard = "IF NOT EXISTS " if engine.dialect.name == "postgresql" else ""
    with engine.begin() as conn:
        for name in missing:
            column = outbox.c[name].type.compile(dialect=engine.dialect)
            conn.execute(text(f"ALTER TABLE outbox ADD COLUMN {guard}{name} {column}"))
    for index in outbox.indexes:
        if set(index.columns.keys()) & set(missing):
            index.create(engine, checkfirst=True)


def add_to_outbox(conn: Connection, event: CloudEvent) -> None:
    """Write the event in the caller's transaction, so it commits with the user row."""
    conn.execute(
        insert(outbox).values(
            event_id=event.id,
            type=event.type,
            payload=event.to_json(trace=False),
            created_at=_now(),
            attempts=0,
            user_id=event.data.user_id,
            traceparent=event.traceparent,
            tracestate=event.tracestate,
        )
    )


def pending_count(engine: Engine) -> int:
    """Unsent rows."""
    with engine.connect() as conn:
        return int(
            conn.execute(
                select(func.count()).select_from(outbox).where(outbox.c.sent_at.is_(None))
            ).scalar_one()
        )


Row = tuple[int, CloudEvent]
ROW_COLUMNS = (outbox.c.id, outbox.c.payload, outbox.c.traceparent, outbox.c.tracestate)


def _row(values: Any) -> Row:
    """A row's id and its event, with the trace context from the row's own columns."""
    row_id, payload, traceparent, tracestate = values
    event = _parse(int(row_id), str(payload))
    if traceparent is not None:
        event = _traced(int(row_id), event, traceparent, tracestate)
    return int(row_id), event


def _pending(engine: Engine, limit: int) -> list[Row]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(*ROW_COLUMNS)
            .where(outbox.c.sent_at.is_(None))
            .order_by(outbox.c.id)
            .limit(limit)
        ).all()
    return [_row(r) for r in rows]


def claimable(limit: int) -> Select[Any]:
    """Unsent rows whose user has no earlier unsent row, oldest first, locked for this
    transaction; rows another relay holds are skipped, not waited for."""
    earlier = outbox.alias("earlier")
    return (
        select(*ROW_COLUMNS)
        .where(
            outbox.c.sent_at.is_(None),
            ~exists().where(
                earlier.c.user_id == outbox.c.user_id,
                earlier.c.sent_at.is_(None),
                earlier.c.id < outbox.c.id,
            ),
        )
        .order_by(outbox.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True, of=outbox)
    )


class Claim:
    """A batch of rows locked in one open transaction until finish() records what happened."""

    def __init__(self, engine: Engine, limit: int) -> None:
        self.conn = engine.connect()
        try:
            self.conn.begin()
            self.rows = [_row(r) for r in self.conn.execute(claimable(limit)).all()]
        except Exception:
            self.conn.close()
            raise
        self.sent: list[int] = []

    def finish(self, failed: int | None = None) -> None:
        """Mark the published rows sent, count a failed attempt, commit and let go."""
        try:
            if self.sent:
                self.conn.execute(
                    update(outbox).where(outbox.c.id.in_(self.sent)).values(sent_at=_now())
                )
            if failed is not None:
                self.conn.execute(
                    update(outbox)
                    .where(outbox.c.id == failed)
                    .values(attempts=outbox.c.attempts + 1)
                )
            self.conn.commit()
        finally:
            self.conn.close()


def _mark_sent_by_events(engine: Engine, event_ids: list[str]) -> None:
    with engine.begin() as conn:
        conn.execute(
            update(outbox)
            .where(outbox.c.event_id.in_(event_ids), outbox.c.sent_at.is_(None))
            .values(sent_at=_now())
        )


def _mark_sent(engine: Engine, row_id: int) -> None:
    with engine.begin() as conn:
        conn.execute(update(outbox).where(outbox.c.id == row_id).values(sent_at=_now()))


def _reopen_sent_since(engine: Engine, since: datetime) -> int:
    """Mark rows sent at or after `since` unsent again; how many."""
    with engine.begin() as conn:
        result = conn.execute(update(outbox).where(outbox.c.sent_at >= since).values(sent_at=None))
        return int(result.rowcount or 0)


def _mark_failed(engine: Engine, row_id: int) -> None:
    with engine.begin() as conn:
        conn.execute(
            update(outbox).where(outbox.c.id == row_id).values(attempts=outbox.c.attempts + 1)
        )


class OutboxRelay:
    """Publishes pending rows in order and marks them sent; retries while Valkey is down.

    Fast path: `wake(event)` hands over the event just committed. While the relay is caught up
    (its last drain found nothing left and nothing failed since), it publishes that event at
    once, without reading the table, and marks such rows sent in one batch when it goes idle.
    Anything else (a failure, a poll, rows left by a crash) goes through the ordered drain of
    the table, which first records the batch, so nothing is read back as pending by mistake.

    With `claim` (the default on PostgreSQL) the relay may share the table with others: it has
    no fast path, and every drain claims its rows (see the module's docstring). A handed-over
    event wakes it, and its row is published by whichever relay claims it.
    """

    def __init__(
        self,
        engine: Engine,
        publish: Callable[[CloudEvent], Awaitable[object]],
        *,
        poll_interval: float = 0.5,
        batch: int = 100,
        max_backoff: float = 2.0,
        resend_window: float = 0.0,
        claim: bool | None = None,
    ) -> None:
        self.engine = engine
        self.claim = engine.dialect.name == "postgresql" if claim is None else claim
        # When publishing starts failing (a failover, an outage), rows sent in the last
        # `resend_window` seconds are sent again: the old primary may have acknowledged entries
        # its replica never got. Consumers ignore the copies that did arrive. 0: off.
        self.resend_window = resend_window
        self.resent = 0
        self._failing = False
        self.publish = publish
        self.poll_interval = poll_interval
        self.batch = batch
        self.max_backoff = max_backoff
        self.published = 0
        self.failures = 0
        self.passes = 0
        self.last_error: str | None = None
        self.fast_published = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wakeup: asyncio.Event | None = None
        self._handed: list[CloudEvent] = []
        self._unmarked: list[str] = []
        self._waiters: dict[str, asyncio.Future[None]] = {}
        self._caught_up = False

    def wake(self, committed: CloudEvent | None = None) -> None:
        """Ask the relay to publish now, optionally handing over the event just committed.

        Safe from any thread, and before run() (the row is then found by the first drain).
        """
        loop, wakeup = self._loop, self._wakeup
        if loop is None or wakeup is None or loop.is_closed():
            return

        def deliver() -> None:
            if committed is not None:
                self._handed.append(committed)
            wakeup.set()

        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            deliver()
        else:
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(deliver)

    async def handover(self, committed: CloudEvent, wait: float) -> bool:
        """Hand over the event just committed and wait up to `wait` s until it is published.

        Called on the relay's own loop; True once published, False if it is still pending
        (Valkey down or slow): the relay keeps trying, and nothing is lost either way.
        """
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            self.wake(committed)
            return False
        done = loop.create_future()
        self._waiters[committed.id] = done
        self.wake(committed)
        try:
            async with asyncio.timeout(wait):
                await asyncio.shield(done)
            return True
        except TimeoutError:
            return False
        finally:
            self._waiters.pop(committed.id, None)

    def _settle(self, event_id: str) -> None:
        waiter = self._waiters.pop(event_id, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def run(self) -> None:
        """Loop until cancelled: drain pending rows, then wait for a wake-up or the poll timer."""
        self._loop = asyncio.get_running_loop()
        self._wakeup = asyncio.Event()
        backoff = FIRST_BACKOFF
        while True:
            raise_if_cancelling()
            self._wakeup.clear()
            fast = self._caught_up and not self.claim
            if fast and self._handed and await self._publish_handed():
                await self._sleep()
                continue
            self._handed.clear()  # the drain below finds those rows in the table
            published: set[str] = set()
            try:
                await self._flush_marks()
                drained = await self._drain(published)
            # The relay's supervisor: database trouble, or a row it cannot send, is retried
            # after a pause; the relay never dies.
            except Exception as exc:  # noqa: BLE001
                self.failures += 1
                self.last_error = f"database: {exc.__class__.__name__}: {exc}"[:200]
                log.warning("outbox relay: %s", self.last_error)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.max_backoff)
                continue
            self._caught_up = drained
            # Events handed over while the drain ran were published by it if it read their row.
            self._handed = [e for e in self._handed if e.id not in published]
            if not drained:
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.max_backoff)
                continue
            backoff = FIRST_BACKOFF
            self.passes += 1  # every pending row is published: sleep until woken or polled
            await self._sleep()

    async def _sleep(self) -> None:
        """Wait for a wake-up or the poll interval; record a batch of sent rows when idle."""
        assert self._wakeup is not None
        while True:
            idle = min(self.poll_interval, MARK_DELAY) if self._unmarked else self.poll_interval
            try:
                async with asyncio.timeout(idle):
                    await self._wakeup.wait()
                return
            except TimeoutError:
                if not self._unmarked:
                    return
                try:
                    await self._flush_marks()
                except SQLAlchemyError as exc:  # the database is gone: run() retries with backoff
                    self.failures += 1
                    self.last_error = f"database: {exc.__class__.__name__}: {exc}"[:200]
                    return

    async def _publish_failed(self) -> None:
        """On the first failure after a success, reopen the rows sent within the window."""
        if self._failing or self.resend_window <= 0:
            return
        self._failing = True
        self._unmarked = []  # published by the fast path, not yet marked: they stay pending
        since = _now() - timedelta(seconds=self.resend_window)
        reopened = await asyncio.to_thread(_reopen_sent_since, self.engine, since)
        self.resent += reopened
        if reopened:
            log.warning(
                "outbox relay: publishing failed; %d recent rows will be sent again", reopened
            )

    async def _flush_marks(self) -> None:
        """Mark the rows published by the fast path as sent, in one transaction."""
        if self._unmarked:
            batch, self._unmarked = self._unmarked, []
            try:
                await asyncio.to_thread(_mark_sent_by_events, self.engine, batch)
            except Exception:
                self._unmarked = batch + self._unmarked
                raise

    async def _publish_handed(self) -> bool:
        """Publish handed-over events without reading the table; False on the first failure."""
        while self._handed:
            event = self._handed.pop(0)
            try:
                await self.publish(event)
            # The sender is injected (pub/sub, stream, replicated stream): any failure keeps
            # the row for the next pass.
            except Exception as exc:  # noqa: BLE001
                self.failures += 1
                self.last_error = f"publish: {exc.__class__.__name__}: {exc}"[:200]
                self._caught_up = False
                await self._publish_failed()
                return False
            self.published += 1
            self.fast_published += 1
            self._failing = False
            self._unmarked.append(event.id)
            self._settle(event.id)
        return True

    def _event(self, event: CloudEvent) -> CloudEvent:
        """The row's event; the row was written before its commit, so an event handed over
        since, which carries the commit's stamp, is sent instead."""
        return next((e for e in self._handed if e.id == event.id), event)

    async def _drain(self, published: set[str]) -> bool:
        """Publish every pending row in order; False if a publish failed (rows stay pending)."""
        if self.claim:
            return await self._drain_claimed(published)
        while True:
            rows = await asyncio.to_thread(_pending, self.engine, self.batch)
            if not rows:
                return True
            for row_id, stored in rows:
                raise_if_cancelling()
                event = self._event(stored)
                try:
                    await self.publish(event)
                except Exception as exc:  # noqa: BLE001 - as above: the row is kept and retried
                    self.failures += 1
                    self.last_error = f"publish: {exc.__class__.__name__}: {exc}"[:200]
                    await asyncio.to_thread(_mark_failed, self.engine, row_id)
                    await self._publish_failed()
                    return False
                published.add(event.id)
                self._settle(event.id)
                await asyncio.to_thread(_mark_sent, self.engine, row_id)
                self.published += 1
                self.last_error = None
                self._failing = False

    async def _drain_claimed(self, published: set[str]) -> bool:
        """Claim batches until none is left to claim, publishing each in id order; False if a
        publish failed (that row and the rest of its batch stay pending)."""
        while True:
            batch = await asyncio.to_thread(Claim, self.engine, self.batch)
            failed: int | None = None
            try:
                for row_id, stored in batch.rows:
                    raise_if_cancelling()
                    event = self._event(stored)
                    try:
                        await self.publish(event)
                    except Exception as exc:  # noqa: BLE001 - as above: the row stays pending
                        self.failures += 1
                        self.last_error = f"publish: {exc.__class__.__name__}: {exc}"[:200]
                        failed = row_id
                        break
                    batch.sent.append(row_id)
                    published.add(event.id)
                    self._settle(event.id)
                    self.published += 1
                    self.last_error = None
                    self._failing = False
            except BaseException:
                await asyncio.to_thread(batch.finish)  # what was published is recorded
                raise
            await asyncio.to_thread(batch.finish, failed)
            if failed is not None:
                await self._publish_failed()
                return False
            if not batch.rows:
                return True


def _parse(row_id: int, payload: str) -> CloudEvent:
    """The row's event; an invalid one stops the relay: never skipped, someone must look."""
    try:
        return CloudEvent.parse(payload)
    except InvalidEvent as exc:
        raise RuntimeError(f"outbox row {row_id} holds an invalid event") from exc


def _traced(row_id: int, event: CloudEvent, traceparent: str, tracestate: str | None) -> CloudEvent:
    """The event with the row's trace context; a malformed one stops the relay like a bad row."""
    try:
        return CloudEvent.from_attributes(
            event.attributes() | {"traceparent": traceparent, "tracestate": tracestate}
        )
    except InvalidEvent as exc:
        raise RuntimeError(f"outbox row {row_id} holds an invalid trace context") from exc
