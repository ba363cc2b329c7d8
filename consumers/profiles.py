"""The profiles service: a default profile for each new user."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, Table, func, select
from sqlmodel import Field, SQLModel

from common.db import insert_ignore_rows
from consumers.spec import NewUser


class Profile(SQLModel, table=True):
    """A user's profile, created with defaults on provisioning."""

    __tablename__ = "profiles"

    user_id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    display_name: str
    bio: str = ""
    created_at: datetime


profiles: Table = Profile.__table__  # type: ignore[attr-defined]


class ProfilesSpec:
    """Provision = one default profile."""

    name = "profiles"

    def tables(self) -> list[Table]:
        return [profiles]

    def provision(self, conn: Connection, users: Sequence[NewUser]) -> None:
        now = datetime.now(UTC)
        rows = [
            {
                "user_id": user_id,
                "display_name": username or f"user {user_id}",
                "bio": "",
                "created_at": now,
            }
            for user_id, username in users
        ]
        insert_ignore_rows(conn, profiles, rows)

    def describe(self, engine: Engine, user_id: int) -> dict[str, Any] | None:
        with engine.connect() as conn:
            row = conn.execute(select(profiles).where(profiles.c.user_id == user_id)).first()
        if row is None:
            return None
        return {
            "user_id": row.user_id,
            "display_name": row.display_name,
            "bio": row.bio,
            "created_at": row.created_at.isoformat(),
        }

    def count(self, engine: Engine) -> int:
        with engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(profiles)).scalar_one())
