"""Tables every consumer service keeps about users, and the KnownUser view."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Field, SQLModel


class KnownUserRow(SQLModel, table=True):
    """A user this service knows, how it learned of them, and whether they are active."""

    __tablename__ = "known_users"

    user_id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    username: str | None = None
    discovered_by: str
    known_since: datetime
    active: bool = True
    first_call_at: datetime | None = None
    deactivated_at: datetime | None = None


@dataclass(frozen=True)
class KnownUser:
    """A read-only snapshot of a known_users row."""

    user_id: int
    discovered_by: str
    known_since: datetime
    active: bool
    first_call_at: datetime | None

    def as_json(self) -> dict[str, object]:
        """The /internal/known-users shape."""
        return {
            "user_id": self.user_id,
            "discovered_by": self.discovered_by,
            "known_since": self.known_since.isoformat(),
            "active": self.active,
        }
