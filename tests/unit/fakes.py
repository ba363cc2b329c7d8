"""Fakes of our own Protocols (Publisher, Discovery) and in-process keys, for unit tests."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection

from common.settings import Mode, Publish, Settings
from common.tokens import (
    Claims,
    SigningKey,
    Verifier,
    generate_private_key,
    mint_access_token,
    public_jwk,
)
from consumers.discovery.base import Resolution, UnknownUser, UserDeactivated
from consumers.models import KnownUser
from events.model import CloudEvent

ISSUER = "http://127.0.0.1:8000/auth"
AUDIENCE = "discovery-lab"
INTERNAL = "unit-internal-token"

KeysCopier = Callable[[Path], None]  # puts a ready keys dir at the path given


def in_process_settings(state: Path, mode: Mode, **over: Any) -> Settings:
    """Settings of a service run in-process: these keys' issuer and audience, a known internal
    token, and cheap argon2id parameters."""
    cheap_hashing: dict[str, Any] = {  # the same argon2id code, at a cost of milliseconds
        "lab_argon2_time_cost": 1,
        "lab_argon2_memory_kib": 64,
        "lab_argon2_parallelism": 1,
    }
    return Settings(
        lab_state_dir=state,
        lab_issuer=ISSUER,
        lab_audience=AUDIENCE,
        lab_internal_token=INTERNAL,
        lab_mode=mode,
        **(cheap_hashing | over),
    )


def claims(user_id: int, version: int | None = None, **attributes: Any) -> Claims:
    """Verified claims as a service sees them, with attributes packed at `version`."""
    return Claims(
        user_id=user_id,
        sub=str(user_id),
        client_id="unit",
        jti=f"jti-{user_id}-{version}",
        iat=0,
        exp=2**40,
        kid="unit-key",
        attributes=attributes,
        attributes_version=version,
    )


class RecordingPublisher:
    """A Publisher that keeps what it was given: events staged in a transaction, and after it."""

    def __init__(self, mode: Mode = Mode.STREAMS, publish: Publish | None = Publish.DIRECT) -> None:
        self.mode = mode
        self.publish = publish
        self.staged: list[CloudEvent] = []
        self.committed: list[CloudEvent] = []
        self.running = False

    def stage(self, conn: Connection, event: CloudEvent) -> None:
        self.staged.append(event)

    async def after_commit(self, event: CloudEvent) -> None:
        self.committed.append(event)

    async def start(self) -> None:
        self.running = True

    async def stop(self) -> None:
        self.running = False

    async def status(self) -> dict[str, Any]:
        return {"recorded": len(self.committed)}


class FakeDiscovery:
    """A Discovery that knows a fixed set of users: the rest are unknown, some deactivated."""

    def __init__(self, known: Iterable[int] = (), deactivated: Iterable[int] = ()) -> None:
        self.mode = Mode.STREAMS
        self.known = set(known)
        self.deactivated = set(deactivated)
        self.calls: list[int] = []
        self.stopped = False

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        self.stopped = True

    async def resolve(self, claims: Claims) -> Resolution:
        user_id = claims.user_id
        self.calls.append(user_id)
        if user_id in self.deactivated:
            raise UserDeactivated(user_id)
        if user_id not in self.known:
            raise UnknownUser(user_id)
        since = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
        return Resolution(KnownUser(user_id, "event", since, True, None), first_call=False)

    def subscriber_state(self) -> str:
        return "connected"

    async def extra_status(self) -> dict[str, Any]:
        return {"stream_lag": 0}


class Keys:
    """A signing key made in memory, the Verifier that trusts it, and tokens it signs."""

    def __init__(self, alg: str = "RS256", kid: str = "unit-key") -> None:
        self.key = SigningKey(kid=kid, alg=alg, private_key=generate_private_key(alg))

    def jwks(self) -> Mapping[str, Any]:
        return {"keys": [public_jwk(self.key)]}

    def verifier(self) -> Verifier:
        async def fetch() -> Mapping[str, Any]:
            return self.jwks()

        defaults = Settings()
        return Verifier(
            fetch,
            ISSUER,
            AUDIENCE,
            max_lifetime=defaults.lab_token_ttl,
            leeway=defaults.lab_clock_leeway,
            min_refresh_interval=0.0,
        )

    def token(self, user_id: int, ttl: int = 300) -> str:
        return mint_access_token(
            self.key,
            user_id=user_id,
            issuer=ISSUER,
            audience=AUDIENCE,
            client_id="unit",
            ttl=ttl,
        )
