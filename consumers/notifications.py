"""The notifications service: exactly one welcome message per new user."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, Table, func, select
from sqlmodel import Field, SQLModel

from common.db import insert_ignore_rows
from consumers.spec import NewUser


class WelcomeMessage(SQLModel, table=True):
    """The welcome message 'sent' (recorded) to a user; one per user by primary key."""

    __tablename__ = "welcome_messages"

    user_id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    body: str
    sent_at: datetime


messages: Table = WelcomeMessage.__table__  # type: ignore[attr-defined]


class NotificationsSpec:
    """Provision = record one welcome message."""

    name = "notifications"

    def tables(self) -> list[Table]:
        return [messages]

    def provision(self, conn: Connection, users: Sequence[NewUser]) -> None:
        now = datetime.now(UTC)
        rows = [
            {
                "user_id": user_id,
                "body": f"Welcome, {username or f'user {user_id}'}!",
                "sent_at": now,
            }
            for user_id, username in users
        ]
        insert_ignore_rows(conn, messages, rows)

    def describe(self, engine: Engine, user_id: int) -> dict[str, Any] | None:
        with engine.connect() as conn:
            row = conn.execute(select(messages).where(messages.c.user_id == user_id)).first()
        if row is None:
            return None
        return {"user_id": row.user_id, "body": row.body, "sent_at": row.sent_at.isoformat()}

    def count(self, engine: Engine) -> int:
        with engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(messages)).scalar_one())
