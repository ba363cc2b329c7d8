"""Every query the auth service runs, in one layer (sync; called through a worker thread)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import Connection, Engine, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import SQLModel

from auth.models import User
from events.outbox import create_outbox_table

users = User.__table__  # type: ignore[attr-defined]
Stage = Callable[[Connection, int, str], None]


def create_schema(engine: Engine) -> None:
    """Create the users and outbox tables if missing."""
    SQLModel.metadata.create_all(engine, tables=[users])
    create_outbox_table(engine)


def username_taken(engine: Engine, key: str) -> bool:
    """True if a user (active or not) holds this username key."""
    with engine.connect() as conn:
        return (
            conn.execute(select(users.c.id).where(users.c.username_key == key)).first() is not None
        )


def insert_user(
    engine: Engine, username: str, key: str, password_hash: str, stage: Stage
) -> int | None:
    """Insert a user and stage its event in one transaction; None if the name is taken."""
    try:
        with engine.begin() as conn:
            result = conn.execute(
                insert(users).values(
                    username=username,
                    username_key=key,
                    password_hash=password_hash,
                    active=True,
                    created_at=datetime.now(UTC),
                )
            )
            pk = result.inserted_primary_key
            assert pk is not None
            user_id = int(pk[0])
            stage(conn, user_id, username)
            return user_id
    except IntegrityError:
        return None


def find_login(engine: Engine, key: str) -> tuple[int, str, bool] | None:
    """(id, password hash, active) for a username key."""
    with engine.connect() as conn:
        row = conn.execute(
            select(users.c.id, users.c.password_hash, users.c.active).where(
                users.c.username_key == key
            )
        ).first()
    return (int(row[0]), str(row[1]), bool(row[2])) if row else None


def deactivate(engine: Engine, user_id: int, stage: Stage) -> bool:
    """Mark a user inactive and stage the event; False if already inactive or unknown."""
    with engine.begin() as conn:
        row = conn.execute(
            select(users.c.username).where(users.c.id == user_id, users.c.active.is_(True))
        ).first()
        if row is None:
            return False
        conn.execute(
            update(users)
            .where(users.c.id == user_id)
            .values(active=False, deactivated_at=datetime.now(UTC))
        )
        stage(conn, user_id, str(row[0]))
        return True


def is_active(engine: Engine, user_id: int) -> bool:
    """True if the user exists and is active."""
    with engine.connect() as conn:
        row = conn.execute(select(users.c.active).where(users.c.id == user_id)).first()
    return bool(row and row[0])


def count_users(engine: Engine) -> int:
    """Number of registered users."""
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(users)).scalar_one())
