"""The one place that names Valkey channels, streams and event types."""

from __future__ import annotations

from typing import Final

CHANNEL: Final = "users.events"
STREAM: Final = "users.events.stream"
STREAM_FIELD: Final = "event"
SOURCE: Final = "/auth"
USER_REGISTERED: Final = "user.registered"
USER_UPDATED: Final = "user.updated"
USER_DEACTIVATED: Final = "user.deactivated"


def dead_letter(service: str) -> str:
    """The dead-letter stream of one consumer service: only that service and the admin write it."""
    return f"users.events.dead.{service}"
