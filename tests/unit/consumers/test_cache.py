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


def test_every_per_user_structure_keeps_at_most_its_limit() -> None:
    cache = KnownCache(ttl=60, size=3, seen_size=3, blocked_size=3)
    for user_id in range(1, 11):
        cache.put(_user(user_id))
        cache.block(1000 + user_id)
    assert [cache.get(u) is not None for u in (7, 8, 9, 10)] == [False, True, True, True]
    assert [cache.seen(u) for u in (7, 8, 10)] == [False, True, True]
    assert [cache.blocked(u) for u in (1007, 1008, 1010)] == [False, True, True]


def test_a_user_used_again_is_the_last_forgotten() -> None:
    cache = KnownCache(ttl=60, size=2)
    cache.put(_user(1))
    cache.put(_user(2))
    cache.put(_user(1))  # 1 is now the newest
    cache.put(_user(3))
    assert cache.get(1) is not None and cache.get(2) is None and cache.get(3) is not None
