"""Tables every consumer service keeps about users, the KnownUser view, and reply bodies."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import BaseModel
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

    def as_body(self, stages: dict[str, int] | None = None) -> KnownUserBody:
        """The /internal/known-users entry, with the event's stage stamps when known."""
        return KnownUserBody(
            user_id=self.user_id,
            discovered_by=self.discovered_by,
            known_since=self.known_since.isoformat(),
            active=self.active,
            stages=stages,
        )


class WhoAmIBody(BaseModel):
    """GET /whoami: who the caller is to this service, how it learned of them, and the
    attributes it holds for them."""

    service: str
    user_id: int
    discovered_by: str
    known_since: str  # RFC 3339, as datetime.isoformat writes it
    first_call: bool
    attributes: dict[str, Any]
    attributes_version: int
    attributes_seen_at: str | None


class VerifiedBody(BaseModel):
    """GET /verify: the caller's verified id, without discovery."""

    service: str
    user_id: int


class MeBody(BaseModel):
    """GET /me: the service's own record for the caller."""

    service: str
    user_id: int
    record: dict[str, Any] | None


class KnownUserBody(BaseModel):
    """One user this service knows."""

    user_id: int
    discovered_by: str
    known_since: str
    active: bool
    # CLOCK_MONOTONIC ns of each stage of the user.registered event that provisioned the user
    # here (consumers/stamps.py); null for a user this process did not provision from an event.
    stages: dict[str, int] | None = None


class KnownUsersBody(BaseModel):
    """GET /internal/known-users."""

    users: list[KnownUserBody]
