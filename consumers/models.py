"""Tables every consumer service keeps about users, and the KnownUser view."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import JSON
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
    # This service's copy of the user's attributes, at auth's version; 0: none known yet.
    attributes: dict[str, Any] | None = Field(default=None, sa_type=JSON)
    attributes_version: int = 0
    attributes_seen_at: datetime | None = None


@dataclass(frozen=True)
class KnownUser:
    """A read-only snapshot of a known_users row."""

    user_id: int
    discovered_by: str
    known_since: datetime
    active: bool
    first_call_at: datetime | None
    attributes: Mapping[str, Any] = field(default_factory=dict)
    attributes_version: int = 0
    attributes_seen_at: datetime | None = None

    def attributes_view(self) -> dict[str, object]:
        """The attribute fields of /whoami."""
        seen = self.attributes_seen_at
        return {
            "attributes": dict(self.attributes),
            "attributes_version": self.attributes_version,
            "attributes_seen_at": seen.isoformat() if seen else None,
        }

    def as_json(self) -> dict[str, object]:
        """The /internal/known-users shape."""
        return {
            "user_id": self.user_id,
            "discovered_by": self.discovered_by,
            "known_since": self.known_since.isoformat(),
            "active": self.active,
        }
