"""Database engines for SQLite files and PostgreSQL (psycopg 3), and idempotent inserts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import chain
from operator import itemgetter
from pathlib import Path
from typing import Any

from sqlalchemy import Column, Connection, Dialect, Engine, Insert, Table, create_engine, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.schema import ColumnDefault

from common.statefiles import make_private_dirs

# Host parameters per statement in SQLite builds before 3.32 (newer ones allow 32766): multi-row
# inserts are cut to fit the smallest.
SQLITE_MAX_VARIABLES = 999

# The database cannot be reached or used right now (server gone, connection cut, file locked,
# every pooled connection busy past the pool's timeout): answered with 503 and retried, never
# taken for a fault of the request or the event.
STORAGE_DOWN: tuple[type[Exception], ...] = (OperationalError, InterfaceError, PoolTimeout)


def normalise_url(url: str) -> str:
    """Map postgres:// and postgresql:// to the psycopg 3 driver."""
    for prefix in ("postgresql+psycopg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def make_engine(url: str) -> Engine:
    """An engine for a sqlite:/// file (WAL, busy timeout) or postgresql:// URL."""
    url = normalise_url(url)
    if url.startswith("sqlite"):
        path = url.split(":///", 1)[1] if ":///" in url else ""
        if path and path != ":memory:":
            make_private_dirs(Path(path).parent)
        engine = create_engine(
            url,
            connect_args={"timeout": 30, "check_same_thread": False},
            pool_size=8,
            max_overflow=16,
        )

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    if url.startswith("postgresql+psycopg://"):
        return create_engine(url, pool_size=10, max_overflow=10, pool_pre_ping=True)
    raise ValueError(f"unsupported database URL {url!r}: use sqlite:/// or postgresql://")


def insert_ignore(engine: Engine, table: Table) -> Insert:
    """INSERT ... ON CONFLICT DO NOTHING for the engine's dialect."""
    if engine.dialect.name == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing()
    return sqlite.insert(table).on_conflict_do_nothing()


def insert_ignore_rows(
    conn: Connection,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    returning: Column[Any] | None = None,
) -> list[Any]:
    """insert_ignore of rows (dicts with the same keys) in conn's transaction; the `returning`
    value of each row inserted. SQLite: driver-level SQL; PostgreSQL: SQLAlchemy's insert."""
    if not rows:
        return []
    bound = _bound_columns(conn.dialect, table, rows) if conn.dialect.name == "sqlite" else None
    if bound is None:
        stmt = insert_ignore(conn.engine, table)
        if returning is None:
            conn.execute(stmt, rows)
            return []
        return list(conn.execute(stmt.returning(returning), rows).scalars())
    names, values = bound
    prep = conn.dialect.identifier_preparer
    into = f"{prep.format_table(table)} ({', '.join(map(prep.quote, names))})"
    head = f"INSERT INTO {into} VALUES "  # noqa: S608 - quoted identifiers; values are bound
    marks = f"({', '.join('?' * len(names))})"
    tuples = list(zip(*values, strict=True))
    if returning is None:
        conn.exec_driver_sql(f"{head}{marks} ON CONFLICT DO NOTHING", tuples)
        return []
    # executemany drops RETURNING rows: one multi-row statement per chunk instead.
    tail = f" ON CONFLICT DO NOTHING RETURNING {prep.quote(returning.name)}"
    per = max(1, SQLITE_MAX_VARIABLES // len(names))
    inserted: list[Any] = []
    for start in range(0, len(tuples), per):
        chunk = tuples[start : start + per]
        sql = head + ", ".join([marks] * len(chunk)) + tail
        inserted += conn.exec_driver_sql(sql, tuple(chain.from_iterable(chunk))).scalars().all()
    return inserted


def _bound_columns(
    dialect: Dialect, table: Table, rows: Sequence[Mapping[str, Any]]
) -> tuple[list[str], list[list[Any]]] | None:
    """The columns to write and their values as SQLAlchemy binds them, rows in order; None when
    only SQLAlchemy's insert can write them (a key that is no column, a computed default)."""
    keys = rows[0].keys()
    if not keys or not keys <= set(table.c.keys()):
        return None
    names: list[str] = []
    values: list[list[Any]] = []
    for column in table.c:
        if column.key in keys:
            raw = list(map(itemgetter(column.key), rows))
        elif column.default is None:
            continue
        elif isinstance(column.default, ColumnDefault) and column.default.is_scalar:
            raw = [column.default.arg] * len(rows)
        else:
            return None
        names.append(column.name)
        process = column.type._cached_bind_processor(dialect)
        if process is None:
            values.append(raw)
            continue
        # A value object shared by many rows (the batch's time, None, True) is bound once; each
        # stays referenced by `raw`, so no id is reused while this runs.
        ids = list(map(id, raw))
        distinct = dict(zip(ids, raw, strict=True))
        if len(distinct) == 1:
            values.append([process(raw[0])] * len(raw))
            continue
        bound = {key: process(value) for key, value in distinct.items()}
        values.append(list(map(bound.__getitem__, ids)))
    return names, values


def _pg_admin(url: str) -> tuple[str, str]:
    """(the database named in url, a connection string to the server's postgres database)."""
    from sqlalchemy.engine import make_url

    parsed = make_url(normalise_url(url))
    name = parsed.database
    if not name:
        raise ValueError(f"no database name in {url!r}")
    admin = parsed.set(drivername="postgresql", database="postgres")
    return name, admin.render_as_string(hide_password=False)


def ensure_pg_database(url: str) -> None:
    """Create the PostgreSQL database named in url if it does not exist yet."""
    import psycopg

    name, conninfo = _pg_admin(url)
    with psycopg.connect(conninfo, autocommit=True, connect_timeout=5) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')


def drop_pg_database(url: str) -> None:
    """Drop the PostgreSQL database named in url, closing its connections, if it exists."""
    import psycopg

    name, conninfo = _pg_admin(url)
    with psycopg.connect(conninfo, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
