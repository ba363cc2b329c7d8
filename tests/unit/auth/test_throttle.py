"""The throttle's buckets against a real SQLite file, with the clock passed in."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine

from auth import throttle
from common.db import make_engine

POLICY = throttle.Policy(account_allowance=5, account_wide_allowance=50, address_allowance=30)


def _engine(tmp_path: Path) -> Engine:
    engine = make_engine(f"sqlite:///{tmp_path / 'auth.db'}")
    throttle.create_table(engine)
    return engine


def _fail(engine: Engine, address: str, times: int, now: float) -> None:
    for k in range(times):
        throttle.record_failure(engine, throttle.buckets("alice", address), POLICY, now + k)


def test_one_address_cannot_trip_the_account_wide_bucket(tmp_path: Path) -> None:
    engine = _engine(tmp_path)
    _fail(engine, "192.0.2.1", 200, now=1000.0)  # far past its own allowances
    owner = throttle.buckets("alice", "198.51.100.1")
    wait, failing = throttle.blocked(engine, owner, now=1200.0)
    assert wait == 0.0
    assert failing == {owner[1]}  # counted, but only the address's first 5


def test_spread_failures_trip_the_account_wide_bucket(tmp_path: Path) -> None:
    engine = _engine(tmp_path)
    for k in range(10):  # 10 addresses x 5 failures: the allowance of 50 is used up
        _fail(engine, f"192.0.2.{k}", 5, now=1000.0)
    owner = throttle.buckets("alice", "198.51.100.1")
    assert throttle.blocked(engine, owner, now=1100.0)[0] == 0.0
    _fail(engine, "192.0.2.99", 1, now=1100.0)  # the 51st
    assert throttle.blocked(engine, owner, now=1100.0)[0] == 1.0
    # The block is bounded by the cap and the window forgets it.
    assert throttle.blocked(engine, owner, now=1100.0 + POLICY.cap)[0] == 0.0
