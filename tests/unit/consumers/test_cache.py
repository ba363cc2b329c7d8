"""The known-user cache: a deactivated user is never cached as active again."""

from __future__ import annotations

from datetime import UTC, datetime

from consumers.discovery.base import KnownCache
from consumers.models import KnownUser


def _user(user_id: int, active: bool = True) -> KnownUser:
    return KnownUser(user_id, "event", datetime.now(UTC), active, None)


def test_block_wins_over_a_late_put() -> None:
    cache = KnownCache(ttl=60)
    cache.put(_user(1))
    assert cache.get(1) is not None
    cache.block(1)
    assert cache.get(1) is None and cache.blocked(1)
    cache.put(_user(1))  # a lookup that read the row before the deactivation committed
    assert cache.get(1) is None


def test_inactive_users_and_zero_ttl_are_not_cached() -> None:
    cache = KnownCache(ttl=60)
    cache.put(_user(2, active=False))
    assert cache.get(2) is None
    off = KnownCache(ttl=0)
    off.put(_user(3))
    assert off.get(3) is None
