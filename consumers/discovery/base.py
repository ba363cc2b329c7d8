"""The Discovery Protocol and what every mode shares: context, counters, cache, event handling."""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

from sqlalchemy import Engine

from common.db import STORAGE_DOWN
from common.settings import Mode, Settings
from common.tokens import Claims
from consumers import store
from consumers.models import KnownUser
from consumers.spec import ServiceSpec
from consumers.stamps import StageStamps
from events import names
from events.aio import stop_task
from events.model import CloudEvent
from events.signing import KeyLookup
from events.streams import Unavailable

log = logging.getLogger("discovery_lab.consumers")
T = TypeVar("T")


class UserRefused(Exception):
    """A verified caller this service will not serve; `context` names the user."""

    def __init__(self, user_id: int) -> None:
        super().__init__(user_id)
        self.context = {"user_id": user_id}


class UnknownUser(UserRefused):
    """A valid token for a user this service never heard of (event modes)."""


class UserDeactivated(UserRefused):
    """This service knows the user as deactivated."""


@dataclass
class Stats:
    """Counters for /internal/status; they survive mode switches."""

    event_provisions: int = 0
    lazy_provisions: int = 0
    duplicates_ignored: int = 0
    unknown_user_refusals: int = 0
    events_received: int = 0
    deactivations: int = 0
    invalid_events: int = 0
    events_refused: int = 0
    attribute_updates: int = 0  # copies of attributes replaced by a newer version
    stale_updates: int = 0  # user.updated events older than the copy held: ignored
    unknown_updates: int = 0  # user.updated events for a user never heard of: ignored
    calls_served: int = 0  # user calls (whoami, me) this process answered: its share of the load
    last_propagation_ms: float | None = None

    def refused(self) -> None:
        """Count an event refused for its signature (unsigned or not signed by auth)."""
        self.events_refused += 1


PER_USER_LIMIT = 100_000  # users that each per-user structure of a process holds at most


class RecentIds:
    """A set of user ids that keeps the `limit` most recently added, forgetting the oldest."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        # OrderedDict, not dict: dropping a plain dict's first key again and again makes
        # finding the next first key slower each time; popitem(last=False) stays O(1)
        self._ids: OrderedDict[int, None] = OrderedDict()

    def add(self, user_id: int) -> None:
        self._ids[user_id] = None
        self._ids.move_to_end(user_id)
        if len(self._ids) > self.limit:
            self._ids.popitem(last=False)

    def __contains__(self, user_id: object) -> bool:
        return user_id in self._ids

    def __len__(self) -> int:
        return len(self._ids)


@dataclass
class KnownCache:
    """Recently confirmed active users, so the steady-state call skips the database.

    A user blocked here (deactivated by an event this process applied) is never cached as
    active again, even by a lookup that read the database before the deactivation committed.

    Each structure holds at most `limit` users, so memory stays flat however many users a
    process meets; at the bound the oldest is forgotten, and the database answers instead:
    - a cached user: the next call reads the database again;
    - a seen user: the next lookup tries an insert first, which falls back to the existing row;
    - a blocked user: the database still says inactive, so the user stays refused. The block
      only has to outlive a lookup in flight when the deactivation committed (milliseconds).
    """

    ttl: float
    limit: int = PER_USER_LIMIT
    _entries: OrderedDict[int, tuple[KnownUser, float]] = field(default_factory=OrderedDict)
    _blocked: RecentIds = field(init=False)
    _seen: RecentIds = field(init=False)

    def __post_init__(self) -> None:
        self._blocked = RecentIds(self.limit)
        self._seen = RecentIds(self.limit)

    def get(self, user_id: int) -> KnownUser | None:
        hit = self._entries.get(user_id)
        if hit is None or time.monotonic() - hit[1] > self.ttl:
            return None
        return hit[0]

    def seen(self, user_id: int) -> bool:
        """True once this process has found the user in its database."""
        return user_id in self._seen

    def put(self, user: KnownUser) -> None:
        self._seen.add(user.user_id)
        if self.ttl > 0 and user.active and user.user_id not in self._blocked:
            self._entries[user.user_id] = (user, time.monotonic())
            self._entries.move_to_end(user.user_id)
            if len(self._entries) > self.limit:  # forget the oldest entry
                self._entries.popitem(last=False)

    def block(self, user_id: int) -> None:
        """Forget a user and refuse to cache them as active from now on."""
        self._blocked.add(user_id)
        self._entries.pop(user_id, None)

    def blocked(self, user_id: int) -> bool:
        return user_id in self._blocked

    def drop(self, user_id: int) -> None:
        self._entries.pop(user_id, None)


@dataclass
class Resolution:
    """What a call learns: the user, and whether this call was the user's first here."""

    user: KnownUser
    first_call: bool


@dataclass
class Context:
    """What every discovery mode needs from the service around it."""

    settings: Settings
    spec: ServiceSpec
    engine: Engine
    replica: str
    stats: Stats
    cache: KnownCache
    keys: KeyLookup  # auth's published keys, from the same JWKS cache that verifies tokens
    stages: StageStamps = field(default_factory=lambda: StageStamps(PER_USER_LIMIT))


class Discovery(Protocol):
    """One discovery mode: how a service learns users, and what it does on a call."""

    mode: Mode

    async def start(self) -> None:
        """Start background work (subscriber, consumer group)."""

    async def stop(self) -> None:
        """Cancel background work."""

    async def resolve(self, claims: Claims) -> Resolution:
        """The known user for a verified call; raises UnknownUser or UserDeactivated."""

    def subscriber_state(self) -> str:
        """connected, disconnected or off."""

    async def extra_status(self) -> dict[str, Any]:
        """Mode-specific status fields (stream_lag)."""


async def known_or_none(ctx: Context, user_id: int) -> Resolution | None:
    """Cache, then database; raises UserDeactivated for a blocked user."""
    if ctx.cache.blocked(user_id):
        raise UserDeactivated(user_id)
    cached = ctx.cache.get(user_id)
    if cached is not None:
        return Resolution(cached, first_call=False)
    user = await asyncio.to_thread(store.lookup, ctx.engine, user_id)
    if user is None:
        return None
    return await _settle(ctx, user)


async def _settle(ctx: Context, user: KnownUser) -> Resolution:
    if not user.active:
        ctx.cache.drop(user.user_id)
        raise UserDeactivated(user.user_id)
    first = False
    if user.first_call_at is None:
        first = await asyncio.to_thread(store.mark_first_call, ctx.engine, user.user_id)
    ctx.cache.put(user)
    return Resolution(user, first_call=first)


async def provision_lazily(ctx: Context, claims: Claims) -> Resolution:
    """Just-in-time provisioning on a verified call; idempotent across processes. The token's
    packed attributes are recorded when they are newer than the copy held."""
    user_id = claims.user_id
    if ctx.cache.blocked(user_id):
        raise UserDeactivated(user_id)
    cached = ctx.cache.get(user_id)
    if cached is not None:
        return await learn_from_token(ctx, Resolution(cached, first_call=False), claims)
    user, outcome = await asyncio.to_thread(
        store.lookup_or_provision,
        ctx.engine,
        ctx.spec,
        user_id,
        not ctx.cache.seen(user_id),
        claims.attributes,
        claims.attributes_version or 0,
    )
    if outcome != "created":
        if outcome == "raced":  # a concurrent first call, here or in another replica, won
            ctx.stats.duplicates_ignored += 1
        return await learn_from_token(ctx, await _settle(ctx, user), claims)
    ctx.stats.lazy_provisions += 1
    ctx.cache.put(user)
    return Resolution(user, first_call=True)


async def learn_from_token(ctx: Context, found: Resolution, claims: Claims) -> Resolution:
    """Keep the token's attributes if their version is newer than the copy held; the steady
    call (same or older version) writes nothing."""
    version = claims.attributes_version
    if version is None or version <= found.user.attributes_version:
        return found
    user_id = claims.user_id
    outcome = await asyncio.to_thread(
        store.apply_attributes, ctx.engine, user_id, claims.attributes, version
    )
    if outcome == "applied":
        ctx.stats.attribute_updates += 1
        user = replace(
            found.user,
            attributes=dict(claims.attributes),
            attributes_version=version,
            attributes_seen_at=datetime.now(UTC),
        )
    else:  # another replica recorded a newer version first
        held = await asyncio.to_thread(store.lookup, ctx.engine, user_id)
        user = held or found.user
    ctx.cache.put(user)
    return Resolution(user, found.first_call)


async def refuse_unknown(ctx: Context, user_id: int) -> Resolution:
    """Event modes: a user never heard of is refused, and counted."""
    ctx.stats.unknown_user_refusals += 1
    raise UnknownUser(user_id)


async def handle_event(ctx: Context, event: CloudEvent) -> None:
    """Apply one user event idempotently; raise to have it redelivered."""
    ctx.stats.events_received += 1
    data = event.data
    if event.type == names.USER_REGISTERED:
        received = ctx.stages.received(event.id)
        (_, created), began, done = await asyncio.to_thread(
            _bracketed,
            functools.partial(
                store.provision,
                ctx.engine,
                ctx.spec,
                data.user_id,
                data.username,
                "event",
                attributes=data.attributes,
                version=data.version or 0,
            ),
        )
        if created:
            ctx.stats.event_provisions += 1
            ctx.stages.record(data.user_id, event, received, began, done)
            if event.commitmono is not None:
                ctx.stats.last_propagation_ms = round((done - event.commitmono) / 1e6, 3)
            else:  # an event without auth's commit stamp: its wall-clock time, to the ms
                lag = datetime.now(UTC) - event.time.astimezone(UTC)
                ctx.stats.last_propagation_ms = round(lag.total_seconds() * 1000, 3)
        else:
            ctx.stats.duplicates_ignored += 1
    elif event.type == names.USER_UPDATED:
        await _apply_update(ctx, event)
    elif event.type == names.USER_DEACTIVATED:
        ctx.cache.block(data.user_id)  # before the write: no call may cache them as active
        changed = await asyncio.to_thread(
            store.deactivate, ctx.engine, data.user_id, data.username, "event"
        )
        if changed:
            ctx.stats.deactivations += 1
        else:
            ctx.stats.duplicates_ignored += 1


def _bracketed(work: Callable[[], T]) -> tuple[T, int, int]:
    """Run `work` (in a worker thread) between two CLOCK_MONOTONIC stamps in ns."""
    began = time.monotonic_ns()
    result = work()
    return result, began, time.monotonic_ns()


async def _apply_update(ctx: Context, event: CloudEvent) -> None:
    data = event.data
    assert data.attributes is not None and data.version is not None  # CloudEvent checks both
    outcome = await asyncio.to_thread(
        store.apply_attributes, ctx.engine, data.user_id, data.attributes, data.version
    )
    if outcome == "applied":
        ctx.stats.attribute_updates += 1
        ctx.cache.drop(data.user_id)  # the next call reads the new copy
    elif outcome == "stale":
        ctx.stats.stale_updates += 1
    else:
        ctx.stats.unknown_updates += 1
        log.warning("user.updated for unknown user %s ignored", data.user_id)


async def count_invalid(ctx: Context, raw: bytes, reason: str) -> None:
    """A message that is not a valid event: counted and logged, never applied."""
    ctx.stats.invalid_events += 1
    log.warning("invalid event ignored (%s): %r", reason, raw[:200])


class EventDiscovery:
    """What the event modes share: a background reader task, and refusing unknown users."""

    mode: Mode

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self._task: asyncio.Task[None] | None = None

    def reader(self) -> Coroutine[Any, Any, None]:
        """The long-running coroutine that receives events."""
        raise NotImplementedError

    async def on_event(self, event: CloudEvent) -> None:
        try:
            await handle_event(self.ctx, event)
        except STORAGE_DOWN as exc:
            raise Unavailable(f"database unavailable: {exc.__class__.__name__}") from exc

    async def start(self) -> None:
        self._task = asyncio.create_task(self.reader(), name=f"{self.mode}-reader")

    async def stop(self) -> None:
        await stop_task(self._task)
        self._task = None

    async def resolve(self, claims: Claims) -> Resolution:
        found = await known_or_none(self.ctx, claims.user_id)
        return found if found is not None else await refuse_unknown(self.ctx, claims.user_id)
