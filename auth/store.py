"""Every query the auth service runs, in one layer (sync; called through a worker thread)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import SQLModel

from auth import throttle
from auth.models import User
from common.attributes import NAMES
from events.outbox import create_outbox_table

users = User.__table__  # type: ignore[attr-defined]
Stage = Callable[[Connection, int, str], None]
AttributeStage = Callable[[Connection, int, str, dict[str, Any], int], None]
ATTRIBUTE_COLUMNS = [users.c[name] for name in NAMES]


def create_schema(engine: Engine) -> None:
    """Create the users, outbox and login_failures tables if missing."""
    SQLModel.metadata.create_all(engine, tables=[users])
    create_outbox_table(engine)
    throttle.create_table(engine)


def username_taken(engine: Engine, key: str) -> bool:
    """True if a user (active or not) holds this username key."""
    with engine.connect() as conn:
        return (
            conn.execute(select(users.c.id).where(users.c.username_key == key)).first() is not None
        )


def insert_user(
    engine: Engine,
    username: str,
    key: str,
    password_hash: str,
    stage: Stage,
    attributes: Mapping[str, Any] | None = None,
) -> int | None:
    """Insert a user (attributes at version 1) and stage its event in one transaction; None if
    the name is taken."""
    try:
        with engine.begin() as conn:
            result = conn.execute(
                insert(users).values(
                    username=username,
                    username_key=key,
                    password_hash=password_hash,
                    active=True,
                    created_at=datetime.now(UTC),
                    attributes_version=1,
                    **dict(attributes or {}),
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


def find_user(engine: Engine, key: str) -> tuple[int, str, bool] | None:
    """(id, username, active) for a username key."""
    with engine.connect() as conn:
        row = conn.execute(
            select(users.c.id, users.c.username, users.c.active).where(users.c.username_key == key)
        ).first()
    return (int(row[0]), str(row[1]), bool(row[2])) if row else None


def set_password_hash(engine: Engine, user_id: int, password_hash: str) -> None:
    """Replace a user's password hash (rehashed with the current parameters)."""
    with engine.begin() as conn:
        conn.execute(update(users).where(users.c.id == user_id).values(password_hash=password_hash))


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


def update_attributes(
    engine: Engine, user_id: int, changes: Mapping[str, Any], stage: AttributeStage
) -> tuple[dict[str, Any], int] | None:
    """Apply changes to an active user, bump their version and stage the event, in one
    transaction; (every attribute, new version), or None if the user is not active."""
    with engine.begin() as conn:
        row = conn.execute(
            update(users)
            .where(users.c.id == user_id, users.c.active.is_(True))
            .values(attributes_version=users.c.attributes_version + 1, **dict(changes))
            .returning(users.c.username, users.c.attributes_version, *ATTRIBUTE_COLUMNS)
        ).first()
        if row is None:
            return None
        attributes = {name: row._mapping[name] for name in NAMES}
        version = int(row.attributes_version)
        stage(conn, user_id, str(row.username), attributes, version)
        return attributes, version


def attributes_of(engine: Engine, user_id: int) -> tuple[dict[str, Any], int] | None:
    """(every attribute, version) of a user, or None if unknown."""
    with engine.connect() as conn:
        row = conn.execute(
            select(users.c.attributes_version, *ATTRIBUTE_COLUMNS).where(users.c.id == user_id)
        ).first()
    if row is None:
        return None
    return {name: row._mapping[name] for name in NAMES}, int(row.attributes_version)


def exists(engine: Engine, user_id: int) -> bool:
    """True if the id was ever registered (users are deactivated, never deleted)."""
    with engine.connect() as conn:
        return conn.execute(select(users.c.id).where(users.c.id == user_id)).first() is not None


def is_active(engine: Engine, user_id: int) -> bool:
    """True if the user exists and is active."""
    with engine.connect() as conn:
        row = conn.execute(select(users.c.active).where(users.c.id == user_id)).first()
    return bool(row and row[0])


def count_users(engine: Engine) -> int:
    """Number of registered users."""
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(users)).scalar_one())
