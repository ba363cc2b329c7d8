"""The throttle's buckets against a real SQLite file, with the clock passed in."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from auth import throttle
from common.db import make_engine

POLICY = throttle.Policy(account_allowance=5, account_wide_allowance=50, address_allowance=30)
ALICE = throttle.buckets("alice", "192.0.2.1")


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    engine = make_engine(f"sqlite:///{tmp_path / 'auth.db'}")
    throttle.create_table(engine)
    return engine


def _fail(engine: Engine, address: str, times: int, now: float) -> None:
    """Failed attempts one second apart (each stays counted)."""
    for k in range(times):
        throttle.admit_login(engine, throttle.buckets("alice", address), POLICY, now + k)


def _row(engine: Engine, name: str) -> tuple[int, float]:
    """(the bucket's count, until when it is blocked)."""
    table = throttle.failures_table.c
    with engine.connect() as conn:
        row = conn.execute(
            select(table.failures, table.blocked_until).where(table.bucket == name)
        ).one()
    return int(row[0]), float(row[1])


def test_sequential_failures_get_the_allowance_then_a_doubling_wait(engine: Engine) -> None:
    now = 1000.0
    for _ in range(5):  # the allowance: free
        throttle.admit_login(engine, ALICE, POLICY, now)
        assert throttle.blocked(engine, ALICE, now) == 0.0
    throttle.admit_login(engine, ALICE, POLICY, now)  # the 6th is checked, and blocks 1 s
    assert throttle.blocked(engine, ALICE, now) == 1.0
    with pytest.raises(throttle.TooManyAttempts) as refused:
        throttle.admit_login(engine, ALICE, POLICY, now + 0.5)
    assert refused.value.headers == {"Retry-After": "1"}
    assert _row(engine, ALICE[0])[0] == 6  # a refused attempt counts nowhere
    throttle.admit_login(engine, ALICE, POLICY, now + 1.0)
    assert throttle.blocked(engine, ALICE, now + 1.0) == 2.0
    throttle.admit_login(engine, ALICE, POLICY, now + 3.0)
    assert throttle.blocked(engine, ALICE, now + 3.0) == 4.0


def test_the_wait_is_capped_and_the_window_forgets(engine: Engine) -> None:
    policy = throttle.Policy(account_allowance=1, cap=5.0, window=100.0)
    now = 1000.0
    for _ in range(6):
        now += throttle.blocked(engine, ALICE, now)
        throttle.admit_login(engine, ALICE, policy, now)
    assert throttle.blocked(engine, ALICE, now) == 5.0  # 1, 2, 4, then the cap
    later = now + 101.0
    throttle.admit_login(engine, ALICE, policy, later)  # counted as the first again
    assert _row(engine, ALICE[0])[0] == 1
    assert throttle.blocked(engine, ALICE, later) == 0.0


def test_one_address_cannot_trip_the_account_wide_bucket(engine: Engine) -> None:
    address_open = throttle.Policy(account_allowance=5, address_allowance=10_000)
    at_address = throttle.buckets("alice", "192.0.2.1")
    now = 1000.0
    for _ in range(200):  # far past its own allowance: wait each block out
        now += throttle.blocked(engine, at_address, now)
        throttle.admit_login(engine, at_address, address_open, now)
    owner = throttle.buckets("alice", "198.51.100.1")
    assert throttle.blocked(engine, owner, now) == 0.0
    assert _row(engine, owner[1])[0] == 5  # counted, but only the address's first 5


def test_spread_failures_trip_the_account_wide_bucket(engine: Engine) -> None:
    for k in range(10):  # 10 addresses x 5 failures: the allowance of 50 is used up
        _fail(engine, f"192.0.2.{k}", 5, now=1000.0)
    owner = throttle.buckets("alice", "198.51.100.1")
    assert throttle.blocked(engine, owner, now=1100.0) == 0.0
    _fail(engine, "192.0.2.99", 1, now=1100.0)  # the 51st
    assert throttle.blocked(engine, owner, now=1100.0) == 1.0
    # The block is bounded by the cap and the window forgets it.
    assert throttle.blocked(engine, owner, now=1100.0 + POLICY.cap) == 0.0


def test_a_success_clears_the_account_here_and_gives_the_others_their_count(
    engine: Engine,
) -> None:
    policy = throttle.Policy(account_allowance=5, address_allowance=3)
    _fail(engine, "192.0.2.1", 3, now=1000.0)  # the address at its allowance
    before = _row(engine, ALICE[2])
    ticket = throttle.admit_login(engine, ALICE, policy, 1010.0)  # the 4th would block 1 s
    assert throttle.blocked(engine, ALICE, 1010.0) == 1.0
    throttle.refund(engine, ticket, clear=ALICE[0])
    assert _row(engine, ALICE[0]) == (0, 0.0)
    assert _row(engine, ALICE[1])[0] == 3
    assert _row(engine, ALICE[2]) == before  # the count back, and its block lifted
    assert throttle.blocked(engine, ALICE, 1010.0) == 0.0


def test_an_attempt_never_checked_gives_its_count_back_everywhere(engine: Engine) -> None:
    _fail(engine, "192.0.2.1", 6, now=1000.0)  # blocked for 1 s after the 6th
    before = {name: _row(engine, name) for name in ALICE}
    ticket = throttle.admit_login(engine, ALICE, POLICY, 1010.0)
    throttle.refund(engine, ticket)
    assert {name: _row(engine, name) for name in ALICE} == before  # not cleared either


def test_a_refund_leaves_a_later_attempts_block(engine: Engine) -> None:
    policy = throttle.Policy(account_allowance=1)
    first = throttle.admit_login(engine, ALICE, policy, 1000.0)  # in flight
    throttle.admit_login(engine, ALICE, policy, 1000.1)  # the 2nd: blocks 1 s, and fails
    throttle.refund(engine, first)  # the first was never checked
    assert _row(engine, ALICE[0]) == (1, 1001.1)


def test_taken_name_answers_are_counted_per_address(engine: Engine) -> None:
    policy = throttle.Policy(register_taken_allowance=2)
    bucket = throttle.registration_bucket("192.0.2.1")
    for _ in range(3):
        throttle.admit(engine, bucket, policy.register_taken_allowance, policy, 1000.0)
    assert throttle.blocked(engine, [bucket], 1000.0) == 1.0
    with pytest.raises(throttle.TooManyAttempts):
        throttle.admit(engine, bucket, policy.register_taken_allowance, policy, 1000.5)
    other = throttle.registration_bucket("192.0.2.2")
    assert throttle.blocked(engine, [other], 1000.5) == 0.0
