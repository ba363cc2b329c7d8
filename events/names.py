"""The one place that names Valkey channels, streams and event types."""

from __future__ import annotations

from typing import Final

CHANNEL: Final = "users.events"
STREAM: Final = "users.events.stream"
DEAD_LETTER: Final = "users.events.dead"
STREAM_FIELD: Final = "event"
SOURCE: Final = "/auth"
USER_REGISTERED: Final = "user.registered"
USER_UPDATED: Final = "user.updated"
USER_DEACTIVATED: Final = "user.deactivated"
