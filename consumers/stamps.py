"""When each user.registered event reached each stage of its path, per user, for the benchmark.

Every stamp is CLOCK_MONOTONIC in ns (`time.monotonic_ns()` on Linux), which is system-wide, so
auth's stamps carried in the event compare with this process's own:
commit (auth's transaction committed), publish (handed to Valkey), receive (taken off the
connection, before its signature is checked), provision_start and provision_commit (this
service's insert began, and committed).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Sequence
from typing import TypeVar

from events.model import CloudEvent
from events.signing import BatchDecoder, Decoder

K = TypeVar("K")
V = TypeVar("V")
STAMPS = ("commit", "publish", "receive", "provision_start", "provision_commit")


class StageStamps:
    """The stamps of the `limit` most recently provisioned users, oldest forgotten first."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._received: OrderedDict[str, int] = OrderedDict()  # event id -> receive stamp
        self._users: OrderedDict[int, dict[str, int]] = OrderedDict()

    def timed(self, decode: Decoder) -> Decoder:
        """`decode`, stamping when each message arrived; on_event reads it by the event's id."""

        async def decode_timed(raw: bytes | str) -> CloudEvent:
            arrived = time.monotonic_ns()
            event = await decode(raw)
            _bounded_put(self._received, event.id, arrived, self.limit)
            return event

        return decode_timed

    def timed_many(self, decode_many: BatchDecoder) -> BatchDecoder:
        """`decode_many`, stamping when each batch arrived (before any signature is checked)."""

        async def decode_timed(raws: Sequence[str]) -> list[CloudEvent | Exception]:
            arrived = time.monotonic_ns()
            outcomes = await decode_many(raws)
            for outcome in outcomes:
                if isinstance(outcome, CloudEvent):
                    _bounded_put(self._received, outcome.id, arrived, self.limit)
            return outcomes

        return decode_timed

    def received(self, event_id: str) -> int | None:
        """The receive stamp of an event decoded here, taken once."""
        return self._received.pop(event_id, None)

    def record(
        self, user_id: int, event: CloudEvent, received: int | None, began: int, done: int
    ) -> None:
        """The stamps of a user provisioned from `event`; those the event lacks are left out."""
        stamps = (event.commitmono, event.publishmono, received, began, done)
        kept = {k: v for k, v in zip(STAMPS, stamps, strict=True) if v is not None}
        _bounded_put(self._users, user_id, kept, self.limit)

    def of(self, user_id: int) -> dict[str, int] | None:
        """A user's stamps, if this process provisioned them from an event it still remembers."""
        return self._users.get(user_id)


def _bounded_put(entries: OrderedDict[K, V], key: K, value: V, limit: int) -> None:
    entries[key] = value
    entries.move_to_end(key)
    if len(entries) > limit:
        entries.popitem(last=False)
