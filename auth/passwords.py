"""Argon2id password hashing off the event loop, with bounded concurrency, a bounded queue and
rehashing of hashes made with older parameters (the PHC string of each hash records them)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

import anyio.to_thread
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from common.settings import Settings

T = TypeVar("T")
_default = PasswordHasher()  # argon2id, RFC 9106 low-memory profile (t=3, m=64 MiB, p=4)


class HashingBusy(Exception):
    """Every hashing worker is busy and the queue is full: answer 503 with Retry-After."""


def hash_password_sync(password: str) -> str:
    """Hash a password with the default parameters on the calling thread (for the benchmark)."""
    return _default.hash(password)


def hasher_parameters(hasher: PasswordHasher = _default) -> dict[str, int]:
    """The argon2id parameters in use, for the benchmark's environment record."""
    return {
        "time_cost": hasher.time_cost,
        "memory_cost_kib": hasher.memory_cost,
        "parallelism": hasher.parallelism,
    }


@dataclass
class BoundedRunner:
    """Runs blocking calls in threads, at most `workers` at once and `queue` more waiting;
    a call beyond that is refused at once with HashingBusy instead of piling up."""

    workers: int
    queue: int
    refused: int = 0
    _admitted: int = 0
    _slots: asyncio.Semaphore = field(init=False)

    def __post_init__(self) -> None:
        self._slots = asyncio.Semaphore(self.workers)

    async def run(self, fn: Callable[..., T], *args: object) -> T:
        if self._admitted >= self.workers + self.queue:
            self.refused += 1
            raise HashingBusy(f"{self.workers} hashing, {self.queue} waiting")
        self._admitted += 1
        try:
            async with self._slots:
                return await anyio.to_thread.run_sync(fn, *args)
        finally:
            self._admitted -= 1


@dataclass(frozen=True)
class Checked:
    """The outcome of a password check; `rehashed` is a new hash when the old one's parameters
    are not the current ones."""

    ok: bool
    rehashed: str | None = None


class Passwords:
    """Hash and check passwords with one set of argon2id parameters and bounded concurrency."""

    def __init__(self, hasher: PasswordHasher, runner: BoundedRunner) -> None:
        self.hasher = hasher
        self.runner = runner
        # Unknown users are checked against this, so their answer takes as long as a real one.
        self._dummy = hasher.hash("discovery-lab dummy password for timing")

    async def hash(self, password: str) -> str:
        """A new argon2id hash; raises HashingBusy when the queue is full."""
        return await self.runner.run(self.hasher.hash, password)

    async def check(self, stored: str | None, password: str) -> Checked:
        """Check a password (a dummy hash stands in for an unknown user); raises HashingBusy."""
        return await self.runner.run(self._check, stored, password)

    def _check(self, stored: str | None, password: str) -> Checked:
        try:
            self.hasher.verify(stored or self._dummy, password)
        except (VerificationError, InvalidHashError):
            return Checked(ok=False)
        if stored is None:
            return Checked(ok=False)
        if self.hasher.check_needs_rehash(stored):
            return Checked(ok=True, rehashed=self.hasher.hash(password))
        return Checked(ok=True)


def build_passwords(settings: Settings) -> Passwords:
    """Passwords with the configured argon2id parameters, workers and queue."""
    hasher = PasswordHasher(
        time_cost=settings.lab_argon2_time_cost,
        memory_cost=settings.lab_argon2_memory_kib,
        parallelism=settings.lab_argon2_parallelism,
    )
    workers = settings.lab_hash_workers or os.cpu_count() or 2
    return Passwords(hasher, BoundedRunner(workers=workers, queue=settings.lab_hash_queue))
