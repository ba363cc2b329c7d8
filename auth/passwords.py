"""Argon2id password hashing, run off the event loop (argon2 releases the GIL)."""

from __future__ import annotations

import anyio.to_thread
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()  # argon2id, RFC 9106 low-memory profile (t=3, m=64 MiB, p=4)
_DUMMY_HASH = _hasher.hash("discovery-lab dummy password for timing")


def hash_password_sync(password: str) -> str:
    """Hash a password with argon2id on the calling thread."""
    return _hasher.hash(password)


async def hash_password(password: str) -> str:
    """Hash a password with argon2id in a worker thread."""
    return await anyio.to_thread.run_sync(_hasher.hash, password)


def _verify(stored: str | None, password: str) -> bool:
    try:
        return _hasher.verify(stored or _DUMMY_HASH, password) and stored is not None
    except (VerificationError, InvalidHashError):
        return False


async def verify_password(stored: str | None, password: str) -> bool:
    """Check a password; with no stored hash, verify against a dummy so timing is similar."""
    return await anyio.to_thread.run_sync(_verify, stored, password)


def hasher_parameters() -> dict[str, int]:
    """The argon2id parameters in use, for the benchmark's environment record."""
    return {
        "time_cost": _hasher.time_cost,
        "memory_cost_kib": _hasher.memory_cost,
        "parallelism": _hasher.parallelism,
    }
