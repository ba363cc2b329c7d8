"""Database engines for SQLite files and PostgreSQL (psycopg 3), and idempotent inserts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, Insert, Table, create_engine, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

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
            Path(path).parent.mkdir(parents=True, exist_ok=True)
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
