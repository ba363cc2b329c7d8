"""The auth service's state and use cases, independent of HTTP."""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NoReturn, TypeVar

import valkey.asyncio as avalkey
from joserfc.jwk import RSAKey
from sqlalchemy import Connection, Engine

from auth import store, throttle
from auth.faults import CrashAfterCommit
from auth.keys import KeyStore
from auth.models import username_key
from auth.password_policy import check_new_password
from auth.passwords import Passwords
from auth.publishing import Publisher, PublishStats, build_publisher, outbox_pending
from auth.throttle import Policy as ThrottlePolicy
from auth.throttle import Ticket
from common import sealed
from common.settings import Mode, Publish, Settings, default_publish, publish_label
from common.timing import phase
from common.tokens import Claims, Verifier, mint_access_token
from events.model import CloudEvent, user_event
from events.streams import WaitReplicas

log = logging.getLogger("discovery_lab.auth")
T = TypeVar("T")


def stamp_commit(transaction: Callable[[], T]) -> tuple[T, int]:
    """Run a transaction (in a worker thread) and stamp CLOCK_MONOTONIC in ns the moment it
    has committed, for the event's `commitmono`."""
    result = transaction()
    return result, time.monotonic_ns()


class UsernameTaken(Exception):
    """The username (compared without case) is already registered."""


class UserInactive(Exception):
    """The token is valid but its user is deactivated."""


class UnknownUser(Exception):
    """The operator named a user id, or a username, that was never registered."""


class TargetDeactivated(Exception):
    """The operator named a deactivated user, whose attributes no longer change."""


class InvalidCredentials(Exception):
    """Wrong password, unknown user or deactivated user: one error for all three."""


@dataclass
class AuthService:
    """Everything a request handler needs, built once in the lifespan."""

    settings: Settings
    engine: Engine
    keys: KeyStore
    valkey: avalkey.Valkey
    verifier: Verifier
    publisher: Publisher
    passwords: Passwords
    throttle: ThrottlePolicy
    seal_to: RSAKey | None = None  # LAB_TOKEN_ENCRYPT: the public half tokens are encrypted to
    stats: PublishStats = field(default_factory=PublishStats)
    replica_wait: WaitReplicas | None = None  # LAB_STREAM_WAIT_REPLICAS
    switch_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    registrations: int = 0  # users this process registered: how the gateway spread the load

    async def register(
        self,
        username: str,
        password: str,
        address: str,
        attributes: dict[str, Any] | None = None,
    ) -> int:
        """Create a user and publish user.registered the way the mode says; a taken name is
        answered only within the address's allowance of such answers."""
        check_new_password(password, username)
        key = username_key(username)
        bucket = throttle.registration_bucket(address)
        with phase("db"):
            wait = await asyncio.to_thread(throttle.blocked, self.engine, (bucket,))
        if wait > 0:  # every name alike, so that a refusal says nothing about the name
            raise throttle.TooManyAttempts(wait)
        if await asyncio.to_thread(store.username_taken, self.engine, key):
            await self._taken(username, bucket)
        with phase("password"):
            password_hash = await self.passwords.hash(password)
        publisher = self.publisher
        staged: list[CloudEvent] = []

        def stage(conn: Connection, user_id: int, name: str) -> None:
            event = user_event("user.registered", user_id, name, attributes=attributes, version=1)
            staged.append(event)
            publisher.stage(conn, event)

        insert = functools.partial(
            store.insert_user, self.engine, username, key, password_hash, stage, attributes
        )
        with phase("db"):
            user_id, committed = await asyncio.to_thread(stamp_commit, insert)
        if user_id is None:
            await self._taken(username, bucket)
        self.registrations += 1
        with phase("publish"):
            await publisher.after_commit(staged[0].stamped(commitmono=committed))
        return user_id

    async def _taken(self, username: str, bucket: str) -> NoReturn:
        """Answer that the name is taken, counted against the address (TooManyAttempts instead
        once it is over its allowance)."""
        allowance = self.throttle.register_taken_allowance
        with phase("db"):
            await asyncio.to_thread(throttle.admit, self.engine, bucket, allowance, self.throttle)
        raise UsernameTaken(username)

    async def login(self, username: str, password: str, address: str) -> str:
        """Check credentials (throttled per account at this address, per account, and per
        address: the attempt is counted before its password is checked) and mint an access
        token; an old hash is replaced by one with the current parameters."""
        key = username_key(username)
        buckets = throttle.buckets(key, address)
        with phase("db"):
            ticket = await asyncio.to_thread(
                throttle.admit_login, self.engine, buckets, self.throttle
            )
        user: tuple[int, str, bool] | None = None
        checked = False
        try:
            with phase("db"):
                found = await asyncio.to_thread(store.find_login, self.engine, key)
            with phase("password"):
                outcome = await self.passwords.check(found[1] if found else None, password)
            checked = True
            if found and outcome.ok and found[2]:
                user = found
        finally:
            # A failure stays counted. A success clears the account at this address; an attempt
            # never checked (hashing full, an error) gives its count back.
            if user is not None or not checked:
                await self._refund(ticket, clear=buckets[0] if user is not None else None)
        if user is None:
            raise InvalidCredentials()
        with phase("db"):
            if outcome.rehashed:
                await asyncio.to_thread(
                    store.set_password_hash, self.engine, user[0], outcome.rehashed
                )
            packed, version = await self._packed(user[0])
        with phase("sign"):
            token = mint_access_token(
                self.keys.active,
                user_id=user[0],
                issuer=self.settings.lab_issuer,
                audience=self.settings.lab_audience,
                client_id=self.settings.lab_client_id,
                ttl=self.settings.lab_token_ttl,
                attributes=packed,
                attributes_version=version,
            )
        if self.seal_to is None:
            return token
        with phase("encrypt"):
            return sealed.seal(token, self.seal_to)

    async def _refund(self, ticket: Ticket, clear: str | None) -> None:
        """Give an admitted attempt's count back; shielded, so a request cancelled mid-check
        still does."""
        with phase("db"):
            refund = asyncio.to_thread(throttle.refund, self.engine, ticket, clear)
            await asyncio.shield(refund)

    async def _packed(self, user_id: int) -> tuple[dict[str, Any], int | None]:
        """The attributes LAB_TOKEN_CLAIMS names (unset ones left out) and their version;
        nothing at all when it names none."""
        names = self.settings.token_claims
        if not names:
            return {}, None
        found = await asyncio.to_thread(store.attributes_of, self.engine, user_id)
        if found is None:
            return {}, None
        attributes, version = found
        return {n: attributes[n] for n in names if attributes[n] is not None}, version

    async def update_attributes(
        self, user_id: int, changes: dict[str, Any]
    ) -> tuple[dict[str, Any], int]:
        """Change a user's attributes, bump their version and publish user.updated in event
        modes; raises UserInactive unless the user is active."""
        publisher = self.publisher
        staged: list[CloudEvent] = []

        def stage(
            conn: Connection, user_id: int, name: str, attributes: dict[str, Any], version: int
        ) -> None:
            event = user_event(
                "user.updated",
                user_id,
                name,
                attributes=attributes,
                version=version,
                changed=list(changes),
            )
            staged.append(event)
            publisher.stage(conn, event)

        result, committed = await asyncio.to_thread(
            stamp_commit,
            functools.partial(store.update_attributes, self.engine, user_id, changes, stage),
        )
        if result is None:
            raise UserInactive(user_id)
        await publisher.after_commit(staged[0].stamped(commitmono=committed))
        return result

    async def operator_update(
        self, user_id: int, changes: dict[str, Any]
    ) -> tuple[dict[str, Any], int]:
        """The operator's change of any attribute (the plan included), the same way as a user's
        own; raises UnknownUser or TargetDeactivated."""
        try:
            return await self.update_attributes(user_id, changes)
        except UserInactive:
            # Users are never deleted, so an id that exists now existed when the update missed.
            if await asyncio.to_thread(store.exists, self.engine, user_id):
                raise TargetDeactivated(user_id) from None
            raise UnknownUser(user_id) from None

    async def find_user(self, username: str) -> tuple[int, str, bool]:
        """(id, username as registered, active) for a name compared the way login compares it;
        raises UnknownUser."""
        found = await asyncio.to_thread(store.find_user, self.engine, username_key(username))
        if found is None:
            raise UnknownUser(username)
        return found

    async def deactivate(self, claims: Claims) -> None:
        """Deactivate the token's user and publish user.deactivated in event modes."""
        publisher = self.publisher
        staged: list[CloudEvent] = []

        def stage(conn: Connection, user_id: int, name: str) -> None:
            staged.append(user_event("user.deactivated", user_id, name))
            publisher.stage(conn, staged[0])

        changed, committed = await asyncio.to_thread(
            stamp_commit, functools.partial(store.deactivate, self.engine, claims.user_id, stage)
        )
        if changed:
            await publisher.after_commit(staged[0].stamped(commitmono=committed))

    async def is_active(self, user_id: int) -> bool:
        """True if the user exists and is active."""
        return await asyncio.to_thread(store.is_active, self.engine, user_id)

    async def switch(self, mode: Mode, publish: Publish | None) -> None:
        """Swap the publisher at runtime without a restart."""
        async with self.switch_lock:
            wanted = publish or default_publish(mode)
            current = self.publisher
            if current.mode is mode and (mode is Mode.LAZY or current.publish is wanted):
                return
            new = self._build(mode, wanted)
            old = self.publisher
            await old.stop()
            await new.start()
            self.publisher = new

    async def status(self) -> dict[str, Any]:
        """Fields for /internal/status."""
        pub = self.publisher
        status: dict[str, Any] = {
            "service": "auth",
            "replica": self.settings.lab_replica_name or "auth",
            "registrations": self.registrations,
            "mode": pub.mode.value,
            "publish": publish_label(pub.mode, pub.publish),
            "known_users": await asyncio.to_thread(store.count_users, self.engine),
            "event_provisions": 0,
            "lazy_provisions": 0,
            "duplicates_ignored": 0,
            "unknown_user_refusals": 0,
            "events_received": 0,
            "events_published": self.stats.published,
            "events_lost": self.stats.lost,
            "outbox_pending": await outbox_pending(self.engine),
            "subscriber": "off",
            "active_kid": self.keys.active.kid,
        }
        status.update(await pub.status())
        return status

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        engine: Engine,
        keys: KeyStore,
        valkey: avalkey.Valkey,
        verifier: Verifier,
        passwords: Passwords,
        throttle: ThrottlePolicy,
        seal_to: RSAKey | None = None,
        replica_wait: WaitReplicas | None = None,
    ) -> AuthService:
        """The service with the publisher its settings ask for, not yet started."""
        stats = PublishStats()
        publisher = make_publisher(
            settings,
            settings.mode,
            settings.publish,
            engine=engine,
            keys=keys,
            valkey=valkey,
            stats=stats,
            replica_wait=replica_wait,
        )
        return cls(
            settings=settings,
            engine=engine,
            keys=keys,
            valkey=valkey,
            verifier=verifier,
            publisher=publisher,
            passwords=passwords,
            throttle=throttle,
            seal_to=seal_to,
            stats=stats,
            replica_wait=replica_wait,
        )

    def _build(self, mode: Mode, publish: Publish) -> Publisher:
        """A publisher for another mode, sharing this service's parts (a runtime switch)."""
        return make_publisher(
            self.settings,
            mode,
            publish,
            engine=self.engine,
            keys=self.keys,
            valkey=self.valkey,
            stats=self.stats,
            replica_wait=self.replica_wait,
        )


def make_publisher(
    settings: Settings,
    mode: Mode,
    publish: Publish,
    *,
    engine: Engine,
    keys: KeyStore,
    valkey: avalkey.Valkey,
    stats: PublishStats,
    replica_wait: WaitReplicas | None,
) -> Publisher:
    """The publisher for a mode, with the crash fault switch around it only when it is on."""
    publisher = build_publisher(
        mode,
        publish,
        client=valkey,
        engine=engine,
        stream_maxlen=settings.lab_stream_maxlen,
        poll_interval=settings.lab_outbox_poll_interval,
        stats=stats,
        active_key=lambda: keys.active,
        wait=replica_wait,
        resend_window=settings.lab_outbox_resend_window,
    )
    if settings.lab_fault_crash_after_commit:
        return CrashAfterCommit(publisher)
    return publisher
