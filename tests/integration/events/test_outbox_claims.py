"""Several outbox relays on one PostgreSQL table: each row published once, per-user order kept."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from common.db import make_engine
from events import names
from events.model import CloudEvent, user_event
from events.outbox import Claim, OutboxRelay, add_to_outbox, create_outbox_table, pending_count
from tests.integration.events.helpers import running
from tests.support import await_for

pytestmark = [
    pytest.mark.timeout(120),
    pytest.mark.parametrize("db_url", ["postgres"], indirect=True),  # SQLite has one relay
]
LIFECYCLE = (names.USER_REGISTERED, names.USER_UPDATED, names.USER_DEACTIVATED)


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url)
    create_outbox_table(engine)
    try:
        yield engine
    finally:
        engine.dispose()


def _write(engine: Engine, type_: str, user_id: int) -> CloudEvent:
    """One event row in its own transaction, as auth writes it with the user row."""
    update = {"attributes": {"plan": "pro"}, "version": 2, "changed": ["plan"]}
    extra = update if type_ == names.USER_UPDATED else {}
    event = user_event(type_, user_id, f"u{user_id}", **extra)  # type: ignore[arg-type]
    with engine.begin() as conn:
        add_to_outbox(conn, event)
    return event


def test_a_claim_skips_locked_rows_and_the_later_rows_of_their_users(engine: Engine) -> None:
    first = _write(engine, names.USER_REGISTERED, 1)
    _write(engine, names.USER_REGISTERED, 2)
    _write(engine, names.USER_UPDATED, 1)
    _write(engine, names.USER_REGISTERED, 3)
    ids = [1, 2, 3, 4]
    a = Claim(engine, 1)
    b = Claim(engine, 10)
    try:
        assert [r[0] for r in a.rows] == [ids[0]]
        assert a.rows[0][1].id == first.id
        # row 1 is a's; row 3 waits for it (same user); rows 2 and 4 are free
        assert [r[0] for r in b.rows] == [ids[1], ids[3]]
        a.sent.append(ids[0])
        a.finish()
        c = Claim(engine, 10)  # b still holds rows 2 and 4; row 3's user has nothing unsent
        assert [r[0] for r in c.rows] == [ids[2]]
        c.finish()  # published nothing: row 3 is pending again
    finally:
        b.finish()
    assert pending_count(engine) == 3


def test_two_relays_publish_every_row_once_in_per_user_order(engine: Engine) -> None:
    users = range(1, 41)
    published: list[tuple[str, CloudEvent]] = []

    def transport(name: str) -> OutboxRelay:
        async def send(event: CloudEvent) -> object:
            await asyncio.sleep(0.001)  # a round trip: the other relay claims meanwhile
            published.append((name, event))
            return None

        return OutboxRelay(engine, send, poll_interval=0.05, batch=4, claim=True)

    relays = [transport("a"), transport("b")]

    async def scenario() -> list[CloudEvent]:
        written: list[CloudEvent] = []
        async with running(relays[0].run()), running(relays[1].run()):
            # each user's events written in lifecycle order, users interleaved, while both run
            for type_, uid in itertools.product(LIFECYCLE, users):
                written.append(await asyncio.to_thread(_write, engine, type_, uid))
                relays[uid % 2].wake()

            async def drained() -> bool:
                return await asyncio.to_thread(pending_count, engine) == 0

            await await_for(drained, timeout=60, what="every row published")
        return written

    written = asyncio.run(scenario())
    ids = [event.id for _, event in published]
    assert sorted(ids) == sorted(e.id for e in written)  # every row, none twice
    assert len(set(ids)) == len(ids)
    for uid in users:
        order = [e.type for _, e in published if e.data.user_id == uid]
        assert order == list(LIFECYCLE), f"user {uid}: {order}"
    by = {name: sum(1 for n, _ in published if n == name) for name in ("a", "b")}
    assert by["a"] > 0 and by["b"] > 0, by  # both relays took part
