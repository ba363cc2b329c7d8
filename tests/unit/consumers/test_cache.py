"""The known-user cache: a deactivated user is never cached as active again, and every
per-user structure keeps to its bound."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from common.settings import Settings
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


def test_expired_entries_leave_as_new_ones_arrive(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    monkeypatch.setattr(time, "monotonic", lambda: now[0])
    cache = KnownCache(ttl=1.0, size=100)
    cache.put(_user(1))
    cache.put(_user(2))
    now[0] += 2.0
    cache.put(_user(3))
    assert cache.sizes() == {"cached": 1, "seen": 3, "blocked": 0}
    assert cache.get(3) is not None and cache.get(1) is None


def test_a_zero_bound_keeps_nothing() -> None:
    cache = KnownCache(ttl=60, size=0, seen_size=0, blocked_size=0)
    cache.put(_user(1))
    cache.block(2)
    assert cache.sizes() == {"cached": 0, "seen": 0, "blocked": 0}


def test_the_bounds_come_from_the_settings() -> None:
    settings = Settings(lab_known_cache_size=5, lab_seen_users_size=6, lab_blocked_users_size=7)
    cache = KnownCache.from_settings(settings)
    assert (cache.size, cache.seen_size, cache.blocked_size) == (5, 6, 7)
