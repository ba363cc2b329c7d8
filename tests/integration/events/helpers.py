"""Shared bits for the events tests: a Valkey client, a task runner and an event collector."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from typing import Any, TypeVar

import jwt
import valkey.asyncio as avalkey

from common.tokens import SigningKey, generate_private_key, public_jwk
from events import signing
from events.model import CloudEvent
from tests.support import ValkeyProc

STOP_TIMEOUT = 3.0
KEY = SigningKey(kid="events-test", alg="EdDSA", private_key=generate_private_key("EdDSA"))
_PUBLIC = jwt.PyJWK(public_jwk(KEY), algorithm="EdDSA")

T = TypeVar("T")


def client_of(valkey_proc: ValkeyProc) -> avalkey.Valkey:
    """An async client of the test's valkey-server, quick to notice that it is gone."""
    return avalkey.Valkey.from_url(valkey_proc.url, socket_connect_timeout=0.5, socket_timeout=2)


def probe(check: Callable[[], T]) -> Callable[[], Awaitable[T]]:
    """Wrap a sync predicate as the awaitable check that await_for polls."""

    async def run_check() -> T:
        return check()

    return run_check


@contextlib.asynccontextmanager
async def running(coro: Coroutine[Any, Any, None]) -> AsyncIterator[asyncio.Task[None]]:
    """Run coro as a task for the block; cancel it after and insist that it stops promptly."""
    task = asyncio.create_task(coro)
    try:
        yield task
    finally:
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=STOP_TIMEOUT)
        assert done, f"task did not stop within {STOP_TIMEOUT}s of cancel()"
        assert task.cancelled(), f"task ended with {task.exception()!r} instead of cancelling"


class Collector:
    """A handler that records events; optionally fails for chosen user ids."""

    def __init__(self, fail_for: set[int] | None = None) -> None:
        self.events: list[CloudEvent] = []
        self.attempts: dict[int, int] = {}
        self.fail_for = fail_for or set()

    async def __call__(self, event: CloudEvent) -> None:
        uid = event.data.user_id
        self.attempts[uid] = self.attempts.get(uid, 0) + 1
        if uid in self.fail_for:
            raise RuntimeError(f"handler refuses user {uid}")
        self.events.append(event)

    @property
    def user_ids(self) -> list[int]:
        """User ids handled successfully, in order."""
        return [e.data.user_id for e in self.events]

    async def has(self, *user_ids: int) -> bool:
        """True once every user id was handled (an awaitable check for await_for)."""
        return set(user_ids) <= set(self.user_ids)


def signed(event: CloudEvent) -> str:
    """The event as auth publishes it: signed with the test key."""
    return signing.sign(event, KEY)


async def keys(kid: str) -> jwt.PyJWK | None:
    """A JWKS holding only the test key."""
    return _PUBLIC if kid == KEY.kid else None


async def decode(raw: bytes | str) -> CloudEvent:
    """The readers' decoder: events signed with the test key, nothing else."""
    return await signing.verify(raw, keys)
