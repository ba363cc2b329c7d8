"""What a consumer service provisions for a new user: the ServiceSpec Protocol."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from sqlalchemy import Connection, Engine, Table

NewUser = tuple[int, str | None]  # (user_id, username) of a user provisioned just now


class ServiceSpec(Protocol):
    """A consumer service's own tables and its provisioning step."""

    name: str

    def tables(self) -> list[Table]:
        """Service-specific tables to create."""

    def provision(self, conn: Connection, users: Sequence[NewUser]) -> None:
        """Create what the service needs for new users, idempotently, in conn's transaction
        (one statement for all of them)."""

    def describe(self, engine: Engine, user_id: int) -> dict[str, Any] | None:
        """The service's own record for a user (its profile, its messages)."""

    def count(self, engine: Engine) -> int:
        """How many of the service's records exist (profiles, welcome messages)."""
