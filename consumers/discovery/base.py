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
from common.settings import DEFAULT_PER_USER_BOUND, Mode, Settings
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


class RecentIds:
    """A set of user ids that keeps the `limit` most recently added, forgetting the oldest."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        # OrderedDict, not dict: dropping a plain dict's first key again and again makes
        # finding the next first key slower each time; popitem(last=False) stays O(1)
        self._ids: OrderedDict[int, None] = OrderedDict()

    def add(self, user_id: int) -> None:
        if self.limit <= 0:
            return
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

    Every structure here is per user, so each has a bound (settings in brackets), and memory
    stays flat however many users a process meets. At the bound the least recently used user
    is forgotten, and the database answers instead:
    - cached active users [LAB_KNOWN_CACHE_SIZE], each also for at most LAB_KNOWN_CACHE_TTL
      seconds (expired entries are dropped as new ones arrive): a forgotten user's next call
      reads the database again;
    - users seen in the database [LAB_SEEN_USERS_SIZE], which only decides whether a lazy
      lookup tries the read or the insert first: a forgotten user's next lookup tries the
      insert, which falls back to the existing row;
    - blocked users [LAB_BLOCKED_USERS_SIZE]: the database holds the deactivation, so a
      forgotten user is still refused (the row says inactive, and no insert revives it). The
      block only has to outlive a lookup that was in flight when the deactivation committed.
    """

    ttl: float
    size: int = DEFAULT_PER_USER_BOUND
    seen_size: int = DEFAULT_PER_USER_BOUND
    blocked_size: int = DEFAULT_PER_USER_BOUND
    _entries: OrderedDict[int, tuple[KnownUser, float]] = field(default_factory=OrderedDict)
    _blocked: RecentIds = field(init=False)
    _seen: RecentIds = field(init=False)

    def __post_init__(self) -> None:
        self._blocked = RecentIds(self.blocked_size)
        self._seen = RecentIds(self.seen_size)

    @classmethod
    def from_settings(cls, settings: Settings) -> KnownCache:
        return cls(
            settings.lab_known_cache_ttl,
            size=settings.lab_known_cache_size,
            seen_size=settings.lab_seen_users_size,
            blocked_size=settings.lab_blocked_users_size,
        )

    def get(self, user_id: int) -> KnownUser | None:
        hit = self._entries.get(user_id)
        if hit is None or time.monotonic() - hit[1] > self.ttl:
            return None
        return hit[0]

    def seen(self, user_id: int) -> bool:
        """True once this process has found the user in its database (and not forgotten)."""
        return user_id in self._seen

    def put(self, user: KnownUser) -> None:
        self._seen.add(user.user_id)
        if self.ttl <= 0 or self.size <= 0 or not user.active or user.user_id in self._blocked:
            return
        now = time.monotonic()
        self._entries[user.user_id] = (user, now)
        self._entries.move_to_end(user.user_id)
        # entries are in the order they were put: expired ones are at the front
        while self._entries:
            _, (_, put_at) = next(iter(self._entries.items()))
            if now - put_at <= self.ttl and len(self._entries) <= self.size:
                break
            self._entries.popitem(last=False)

    def block(self, user_id: int) -> None:
        """Forget a user and refuse to cache them as active from now on."""
        self._blocked.add(user_id)
        self._entries.pop(user_id, None)

    def blocked(self, user_id: int) -> bool:
        return user_id in self._blocked

    def drop(self, user_id: int) -> None:
        self._entries.pop(user_id, None)

    def sizes(self) -> dict[str, int]:
        """How many users each structure holds now."""
        return {
            "cached": len(self._entries),
            "seen": len(self._seen),
            "blocked": len(self._blocked),
        }


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
    # per user provisioned from an event, for the benchmark; the oldest forgotten at the bound
    stages: StageStamps = field(default_factory=lambda: StageStamps(DEFAULT_PER_USER_BOUND))


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
    await handle_events(ctx, [event])


async def handle_events(ctx: Context, events: list[CloudEvent]) -> None:
    """Apply user events idempotently, in order, in one transaction; raise to have them all
    redelivered. Counters move only once the transaction has committed; the stage stamps of a
    user provisioned here are the transaction's start and commit."""
    for event in events:
        if event.type == names.USER_DEACTIVATED:
            ctx.cache.block(event.data.user_id)  # before the write: no call may cache them
    received = [ctx.stages.received(event.id) for event in events]
    outcomes, began, done = await asyncio.to_thread(
        _bracketed, functools.partial(store.apply_events, ctx.engine, ctx.spec, events)
    )
    stats = ctx.stats
    stats.events_received += len(events)
    for event, outcome, arrived in zip(events, outcomes, received, strict=True):
        user_id = event.data.user_id
        if outcome == "created":
            stats.event_provisions += 1
            ctx.stages.record(user_id, event, arrived, began, done)
            if event.commitmono is not None:
                stats.last_propagation_ms = round((done - event.commitmono) / 1e6, 3)
            else:  # an event without auth's commit stamp: its wall-clock time, to the ms
                lag = datetime.now(UTC) - event.time.astimezone(UTC)
                stats.last_propagation_ms = round(lag.total_seconds() * 1000, 3)
        elif outcome == "deactivated":
            stats.deactivations += 1
        elif outcome == "applied":
            stats.attribute_updates += 1
            ctx.cache.drop(user_id)  # the next call reads the new copy
        elif outcome == "stale":
            stats.stale_updates += 1
        elif outcome == "unknown":
            stats.unknown_updates += 1
            log.warning("user.updated for unknown user %s ignored", user_id)
        else:
            stats.duplicates_ignored += 1


def _bracketed(work: Callable[[], T]) -> tuple[T, int, int]:
    """Run `work` (in a worker thread) between two CLOCK_MONOTONIC stamps in ns."""
    began = time.monotonic_ns()
    result = work()
    return result, began, time.monotonic_ns()


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
        await self.on_events([event])

    async def on_events(self, events: list[CloudEvent]) -> None:
        try:
            await handle_events(self.ctx, events)
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
