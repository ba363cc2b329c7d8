"""Auth persistence on SQLite and PostgreSQL: generated ids, uniqueness, outbox atomicity."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import Connection

from auth import store
from auth.models import normalise_username, username_key
from common.db import make_engine
from events.model import user_event
from events.outbox import add_to_outbox, pending_count


def _stage_outbox(conn: Connection, user_id: int, name: str) -> None:
    add_to_outbox(conn, user_event("user.registered", user_id, name))


def _no_stage(conn: Connection, user_id: int, name: str) -> None:
    return None


def test_ids_are_generated_and_names_unique_without_case(db_url: str) -> None:
    engine = make_engine(db_url)
    store.create_schema(engine)
    first = store.insert_user(engine, "Alice", username_key("Alice"), "h", _stage_outbox)
    second = store.insert_user(engine, "bob", username_key("bob"), "h", _stage_outbox)
    assert isinstance(first, int) and isinstance(second, int) and second > first
    assert store.insert_user(engine, "ALICE", username_key("ALICE"), "h", _stage_outbox) is None
    assert store.username_taken(engine, username_key("aLiCe"))
    assert pending_count(engine) == 2
    assert store.count_users(engine) == 2
    engine.dispose()


def test_user_and_outbox_row_commit_together(db_url: str) -> None:
    engine = make_engine(db_url)
    store.create_schema(engine)

    def boom(conn: Connection, user_id: int, name: str) -> None:
        add_to_outbox(conn, user_event("user.registered", user_id, name))
        raise RuntimeError("crash inside the transaction")

    with pytest.raises(RuntimeError):
        store.insert_user(engine, "carol", username_key("carol"), "h", boom)
    assert store.count_users(engine) == 0 and pending_count(engine) == 0
    engine.dispose()


def test_parallel_registrations_of_one_name(db_url: str) -> None:
    engine = make_engine(db_url)
    store.create_schema(engine)
    with ThreadPoolExecutor(10) as pool:
        ids = list(
            pool.map(lambda _: store.insert_user(engine, "dave", "dave", "h", _no_stage), range(10))
        )
    assert len([i for i in ids if i is not None]) == 1
    engine.dispose()


def test_deactivate_once(db_url: str) -> None:
    engine = make_engine(db_url)
    store.create_schema(engine)
    uid = store.insert_user(engine, "erin", "erin", "h", _no_stage)
    assert uid is not None
    assert store.deactivate(engine, uid, _stage_outbox) is True
    assert store.deactivate(engine, uid, _stage_outbox) is False
    assert store.find_login(engine, "erin") == (uid, "h", False)
    assert pending_count(engine) == 1
    engine.dispose()


def test_username_normalisation() -> None:
    assert normalise_username("\uff41\uff42\uff43") == "abc"
    assert username_key("Straße") == username_key("STRASSE")
