"""What a consumer service provisions for a new user: the ServiceSpec Protocol."""

from __future__ import annotations

from typing import Any, Protocol

from sqlalchemy import Connection, Engine, Table


class ServiceSpec(Protocol):
    """A consumer service's own tables and its provisioning step."""

    name: str

    def tables(self) -> list[Table]:
        """Service-specific tables to create."""

    def provision(self, conn: Connection, user_id: int, username: str | None) -> None:
        """Create what the service needs for a new user, idempotently, in conn's transaction."""

    def describe(self, engine: Engine, user_id: int) -> dict[str, Any] | None:
        """The service's own record for a user (its profile, its messages)."""

    def count(self, engine: Engine) -> int:
        """How many of the service's records exist (profiles, welcome messages)."""
