"""Batched idempotent inserts on SQLite and PostgreSQL: rows stored exactly as SQLAlchemy's own
insert stores them, and RETURNING naming only the rows the insert wrote."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from sqlalchemy import Column, Integer, MetaData, String, Table, select

from common.db import SQLITE_MAX_VARIABLES, insert_ignore_rows, make_engine
from consumers import store
from consumers.profiles import ProfilesSpec
from tests.support import stored_text

known = store.known
PLUS_TWO = timezone(timedelta(hours=2))


def _rows(first: int, count: int) -> list[dict[str, Any]]:
    """known_users rows with every kind of value: a time shared by all rows, times of their own,
    None, booleans, JSON objects and JSON null, text beyond ASCII."""
    now = datetime(2026, 3, 1, 12, 0, 0, tzinfo=PLUS_TWO)
    later = datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)
    return [
        {
            "user_id": first + i,
            "username": None if i % 3 == 0 else f"ü-{i}",
            "discovered_by": "event",
            "known_since": now,
            "active": i % 2 == 0,
            "first_call_at": None if i % 2 else later,
            "deactivated_at": later + timedelta(seconds=i),
            "attributes": None if i % 4 == 0 else {"plan": "free", "name": f"é{i}", "n": i},
            "attributes_version": i,
            "attributes_seen_at": now if i % 4 else None,
        }
        for i in range(count)
    ]


def test_rows_are_stored_as_sqlalchemys_insert_stores_them(db_url: str) -> None:
    engine = make_engine(db_url)
    store.create_schema(engine, ProfilesSpec())
    full = _rows(1, 9)
    # Columns left out take their constant defaults (active, attributes_version).
    short = [
        {k: v for k, v in row.items() if k not in ("active", "attributes_version")}
        for row in _rows(201, 9)
    ]
    with engine.begin() as conn:
        conn.execute(known.insert(), full)
        conn.execute(known.insert(), short)
    with engine.begin() as conn:
        insert_ignore_rows(conn, known, [{**row, "user_id": row["user_id"] + 100} for row in full])
        insert_ignore_rows(conn, known, [{**row, "user_id": row["user_id"] + 100} for row in short])
    text = stored_text(engine, known)
    assert len(text) == 36
    for user_id in [*range(1, 10), *range(201, 210)]:
        assert text[user_id + 100] == text[user_id], user_id
    engine.dispose()


def test_returning_names_only_the_rows_this_insert_wrote(db_url: str) -> None:
    engines = [make_engine(db_url), make_engine(db_url)]  # two replicas sharing one database
    store.create_schema(engines[0], ProfilesSpec())
    per_chunk = SQLITE_MAX_VARIABLES // len(known.c)
    rows = _rows(1, 2 * per_chunk + 10)  # three statements on SQLite
    with engines[1].begin() as conn:
        conn.execute(known.insert(), [rows[4], rows[149]])  # users 5 and 150
    batch = [*rows, rows[2], rows[-1]]  # users 3 and the last one again, in the last chunk
    with engines[0].begin() as conn:
        driver = conn.connection.driver_connection
        if isinstance(driver, sqlite3.Connection):  # as strict as the oldest builds
            driver.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, SQLITE_MAX_VARIABLES)
        inserted = insert_ignore_rows(conn, known, batch, returning=known.c.user_id)
    assert sorted(inserted) == [r["user_id"] for r in rows if r["user_id"] not in (5, 150)]
    assert len(stored_text(engines[0], known)) == len(rows)
    for engine in engines:
        engine.dispose()


def test_a_default_sqlalchemy_computes_is_still_computed(db_url: str) -> None:
    stamped = Table(
        "stamped",
        MetaData(),
        Column("id", Integer, primary_key=True, autoincrement=False),
        Column("by", String, default=lambda: "computed"),
    )
    engine = make_engine(db_url)
    stamped.metadata.create_all(engine)
    with engine.begin() as conn:
        assert insert_ignore_rows(conn, stamped, [{"id": 1}], returning=stamped.c.id) == [1]
        assert conn.execute(select(stamped.c.by)).scalar_one() == "computed"
    engine.dispose()
