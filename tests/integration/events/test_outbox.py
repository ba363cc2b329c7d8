"""The transactional outbox on SQLite and PostgreSQL, with a relay to a real valkey-server."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import valkey.asyncio as avalkey
from sqlalchemy import (
    Column,
    DateTime,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    func,
    insert,
    inspect,
    select,
)
from sqlalchemy.exc import IntegrityError

from common.db import make_engine
from events import names, streams
from events.model import CloudEvent, user_event
from events.outbox import OutboxRelay, add_to_outbox, create_outbox_table, outbox, pending_count
from tests.integration.events.helpers import client_of, probe, running, signed
from tests.support import ValkeyProc, await_for

pytestmark = pytest.mark.timeout(60)

users = Table(
    "users", MetaData(), Column("id", Integer, primary_key=True), Column("name", String(64))
)


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url)
    create_outbox_table(engine)
    users.create(engine)
    try:
        yield engine
    finally:
        engine.dispose()


def _register(engine: Engine, user_id: int) -> CloudEvent:
    """What auth does: the user row and its event row in one transaction."""
    event = user_event(names.USER_REGISTERED, user_id, f"u{user_id}")
    with engine.begin() as conn:
        conn.execute(insert(users).values(id=user_id, name=f"u{user_id}"))
        add_to_outbox(conn, event)
    return event


def _rows(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(select(outbox).order_by(outbox.c.id)).all())


def _relay(engine: Engine, client: avalkey.Valkey, **kw: Any) -> OutboxRelay:
    async def to_stream(event: CloudEvent) -> object:
        return await streams.append(client, signed(event), maxlen=10_000)

    return OutboxRelay(engine, to_stream, **kw)


async def _streamed_ids(client: avalkey.Valkey) -> list[str]:
    entries = await client.xrange(names.STREAM)
    return [CloudEvent.parse(f[names.STREAM_FIELD.encode()]).id for _, f in entries]


@contextlib.asynccontextmanager
async def _after_first_pass(relay: OutboxRelay) -> AsyncIterator[None]:
    """Run the relay for the block, from the end of its first (empty) drain."""
    async with running(relay.run()):
        await await_for(probe(lambda: relay.passes == 1), what="first (empty) drain")
        yield


async def _back_and_drained(valkey_proc: ValkeyProc, engine: Engine) -> None:
    """Start Valkey again and wait until the relay has published every row."""
    valkey_proc.start()
    await await_for(probe(lambda: pending_count(engine) == 0), timeout=10, what="drain")


class Flaky:
    """A transport that records what it sends, and fails while `failing` is set."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.failing = threading.Event()

    async def __call__(self, event: CloudEvent) -> object:
        if self.failing.is_set():
            raise ConnectionError("the primary is gone")
        self.sent.append(event.id)
        return None


def _nothing_pending(engine: Engine) -> Any:
    async def check() -> bool:
        return await asyncio.to_thread(pending_count, engine) == 0

    return check


def test_event_row_commits_or_rolls_back_with_the_user_row(engine: Engine) -> None:
    event = user_event(names.USER_REGISTERED, 1, "ann")
    with pytest.raises(RuntimeError), engine.begin() as conn:
        conn.execute(insert(users).values(id=1, name="ann"))
        add_to_outbox(conn, event)
        raise RuntimeError("the request failed after both inserts")
    assert pending_count(engine) == 0
    assert _rows(engine) == []

    _register(engine, 2)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(users)).scalar_one() == 1
    assert pending_count(engine) == 1
    (row,) = _rows(engine)
    assert row.type == names.USER_REGISTERED
    assert CloudEvent.parse(row.payload).data.user_id == 2
    assert row.sent_at is None and row.attempts == 0 and row.created_at is not None

    again = CloudEvent.parse(row.payload)
    with pytest.raises(IntegrityError), engine.begin() as conn:
        add_to_outbox(conn, again)  # the event id is unique


def test_relay_publishes_in_order_and_marks_sent(engine: Engine, valkey_proc: ValkeyProc) -> None:
    events = [_register(engine, uid) for uid in range(1, 6)]

    async def scenario() -> None:
        client = client_of(valkey_proc)
        relay = _relay(engine, client)
        async with running(relay.run()):
            await await_for(_nothing_pending(engine), what="outbox drained")
        assert await _streamed_ids(client) == [e.id for e in events]
        assert (relay.published, relay.failures, relay.last_error) == (5, 0, None)
        await client.aclose()

    asyncio.run(scenario())
    rows = _rows(engine)
    assert [r.event_id for r in rows] == [e.id for e in events]
    assert all(r.sent_at is not None and r.attempts == 0 for r in rows)


def test_relay_keeps_rows_while_valkey_is_down(engine: Engine, valkey_proc: ValkeyProc) -> None:
    valkey_proc.stop()
    events = [_register(engine, uid) for uid in (1, 2, 3)]

    async def scenario() -> None:
        client = client_of(valkey_proc)
        relay = _relay(engine, client, max_backoff=0.2)
        async with running(relay.run()):
            await await_for(probe(lambda: relay.failures >= 3), what="failed publishes")
            assert await asyncio.to_thread(pending_count, engine) == 3
            assert relay.published == 0
            assert relay.last_error is not None and "Error" in relay.last_error
            await asyncio.to_thread(valkey_proc.start)
            await await_for(_nothing_pending(engine), timeout=5, what="outbox drained")
            assert relay.last_error is None
        assert await _streamed_ids(client) == [e.id for e in events]
        await client.aclose()

    asyncio.run(scenario())
    attempts = [r.attempts for r in _rows(engine)]
    assert attempts[0] >= 3 and attempts[1:] == [0, 0]  # the first row is retried, none skipped


def test_wake_publishes_without_waiting_for_the_poll(
    engine: Engine,
    valkey_proc: ValkeyProc,
) -> None:
    async def scenario() -> None:
        client = client_of(valkey_proc)
        # A poll interval no test outlives: only the wake can publish the second event.
        relay = _relay(engine, client, poll_interval=3600)
        relay.wake()  # before run(): harmless
        _register(engine, 1)
        async with running(relay.run()):
            await await_for(
                probe(lambda: relay.passes == 1 and relay.published == 1), what="first pass"
            )
            await asyncio.to_thread(_register, engine, 2)
            waker = threading.Thread(target=relay.wake)
            waker.start()
            waker.join()
            await await_for(probe(lambda: relay.published == 2), timeout=10, what="woken relay")
            await await_for(probe(lambda: relay.passes == 2), what="second pass")
        await client.aclose()

    asyncio.run(scenario())
    assert pending_count(engine) == 0


def test_handed_over_events_skip_the_table_and_are_marked_in_a_batch(
    engine: Engine,
    valkey_proc: ValkeyProc,
) -> None:
    async def scenario() -> None:
        client = client_of(valkey_proc)
        relay = _relay(engine, client, poll_interval=30, claim=False)  # the one-relay fast path
        async with _after_first_pass(relay):
            events = [await asyncio.to_thread(_register, engine, i) for i in (1, 2, 3)]
            for event in events:
                relay.wake(event)
            await await_for(probe(lambda: relay.fast_published == 3), timeout=2, what="fast path")
            assert relay.passes == 1  # no drain ran: the table was not read
            await await_for(
                probe(lambda: pending_count(engine) == 0), timeout=2, what="batch marked sent"
            )
        assert await _streamed_ids(client) == [e.id for e in events]  # each once, in order
        await client.aclose()

    asyncio.run(scenario())


def test_a_failed_fast_publish_falls_back_to_the_ordered_drain(
    engine: Engine,
    valkey_proc: ValkeyProc,
) -> None:
    async def scenario() -> None:
        client = client_of(valkey_proc)
        relay = _relay(engine, client, poll_interval=30, max_backoff=0.2)
        async with _after_first_pass(relay):
            valkey_proc.stop()
            first = await asyncio.to_thread(_register, engine, 1)
            relay.wake(first)
            await await_for(probe(lambda: relay.failures >= 1), what="a failed publish")
            second = await asyncio.to_thread(_register, engine, 2)
            relay.wake(second)
            await _back_and_drained(valkey_proc, engine)
        check = client_of(valkey_proc)
        assert await _streamed_ids(check) == [first.id, second.id]
        await check.aclose()
        await client.aclose()

    asyncio.run(scenario())


def test_handover_waits_until_published_but_not_while_valkey_is_down(
    engine: Engine,
    valkey_proc: ValkeyProc,
) -> None:
    async def scenario() -> None:
        client = client_of(valkey_proc)
        relay = _relay(engine, client, poll_interval=30, max_backoff=0.2)
        async with _after_first_pass(relay):
            event = await asyncio.to_thread(_register, engine, 1)
            assert await relay.handover(event, wait=2.0) is True
            # one relay takes the fast path; relays that may share the table claim every row
            assert relay.fast_published == (0 if relay.claim else 1)
            valkey_proc.stop()
            late = await asyncio.to_thread(_register, engine, 2)
            assert await relay.handover(late, wait=0.2) is False  # gives up, the row waits
            await _back_and_drained(valkey_proc, engine)
        await client.aclose()

    asyncio.run(scenario())


def test_a_failure_after_success_sends_the_recent_rows_again(engine: Engine) -> None:
    """The resend window: what was sent just before publishing failed is sent once more."""
    transport = Flaky()

    async def scenario() -> None:
        relay = OutboxRelay(engine, transport, poll_interval=0.05, resend_window=60.0)
        async with running(relay.run()):
            first = [_register(engine, uid) for uid in (1, 2)]
            await await_for(_nothing_pending(engine), what="the first rows sent")
            transport.failing.set()
            _register(engine, 3)
            relay.wake()
            await await_for(probe(lambda: relay.resent == 2), what="the sent rows reopened")
            transport.failing.clear()
            relay.wake()
            await await_for(_nothing_pending(engine), what="every row sent after recovery")
        assert [transport.sent.count(e.id) for e in first] == [2, 2]  # once before, once after

    asyncio.run(scenario())


def test_without_a_resend_window_a_sent_row_is_never_sent_again(engine: Engine) -> None:
    transport = Flaky()

    async def scenario() -> None:
        relay = OutboxRelay(engine, transport, poll_interval=0.05)
        async with running(relay.run()):
            first = _register(engine, 1)
            await await_for(_nothing_pending(engine), what="the first row sent")
            transport.failing.set()
            _register(engine, 2)
            relay.wake()
            await await_for(probe(lambda: relay.failures > 0), what="a failed publish")
            transport.failing.clear()
            relay.wake()
            await await_for(_nothing_pending(engine), what="every row sent after recovery")
        assert transport.sent.count(first.id) == 1
        assert relay.resent == 0

    asyncio.run(scenario())


TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


class Captured:
    """A transport that keeps every event it is handed."""

    def __init__(self) -> None:
        self.events: list[CloudEvent] = []

    async def __call__(self, event: CloudEvent) -> object:
        self.events.append(event)
        return None


async def _relay_all(engine: Engine, transport: Captured) -> None:
    relay = OutboxRelay(engine, transport, poll_interval=0.05)
    async with running(relay.run()):
        await await_for(_nothing_pending(engine), what="every row sent")


def test_the_row_keeps_the_trace_context_and_the_relay_continues_it(engine: Engine) -> None:
    event = user_event(names.USER_REGISTERED, 1, "ann").model_copy(
        update={"traceparent": TRACEPARENT, "tracestate": "vendor=opaque"}
    )
    with engine.begin() as conn:
        conn.execute(insert(users).values(id=1, name="ann"))
        add_to_outbox(conn, event)
    (row,) = _rows(engine)
    assert (row.traceparent, row.tracestate) == (TRACEPARENT, "vendor=opaque")
    assert "traceparent" not in row.payload  # the columns hold it, once
    transport = Captured()
    asyncio.run(_relay_all(engine, transport))
    (sent,) = transport.events
    assert sent.id == event.id
    assert (sent.traceparent, sent.tracestate) == (TRACEPARENT, "vendor=opaque")


def test_an_outbox_written_before_the_trace_columns_gains_them(db_url: str) -> None:
    engine = make_engine(db_url)
    old = Table(  # the first release's table: no user_id, no trace context
        "outbox",
        MetaData(),
        Column("id", Integer, primary_key=True),
        Column("event_id", String(200), unique=True, nullable=False),
        Column("type", String(64), nullable=False),
        Column("payload", String, nullable=False),
        Column("created_at", DateTime(timezone=True)),
        Column("sent_at", DateTime(timezone=True)),
        Column("attempts", Integer, nullable=False),
    )
    try:
        old.create(engine)
        earlier = user_event(names.USER_REGISTERED, 1, "ann")
        with engine.begin() as conn:
            conn.execute(
                insert(old).values(
                    event_id=earlier.id, type=earlier.type, payload=earlier.to_json(), attempts=0
                )
            )
        create_outbox_table(engine)
        create_outbox_table(engine)  # a second start finds nothing to add
        columns = {c["name"] for c in inspect(engine).get_columns("outbox")}
        assert {"user_id", "traceparent", "tracestate"} <= columns
        later = user_event(names.USER_REGISTERED, 2, "bob").model_copy(
            update={"traceparent": TRACEPARENT}
        )
        with engine.begin() as conn:
            add_to_outbox(conn, later)
        transport = Captured()
        asyncio.run(_relay_all(engine, transport))
        assert [(e.id, e.traceparent) for e in transport.events] == [
            (earlier.id, None),
            (later.id, TRACEPARENT),
        ]
    finally:
        engine.dispose()
