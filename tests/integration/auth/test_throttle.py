"""The throttle under many threads racing, through three engines on one database (as three auth
processes would), on a real SQLite file and a real PostgreSQL database."""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from auth import throttle
from common.db import make_engine
from tests.support import create_pg_database, drop_pg_database, require_postgres

POLICY = throttle.Policy(account_allowance=5, account_wide_allowance=50, address_allowance=30)
ALICE = throttle.buckets("alice", "192.0.2.1")
NOW = 1_000_000.0  # one instant for a whole burst, so no block can end during it


@pytest.fixture(params=["sqlite", "postgresql"])
def engines(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[list[Engine]]:
    """Three engines (three connection pools) on one new database."""
    if request.param == "postgresql":
        require_postgres()
        name = f"lab_test_throttle_{uuid.uuid4().hex[:10]}"
        url = create_pg_database(name)
    else:
        url = f"sqlite:///{tmp_path / 'auth.db'}"
    made = [make_engine(url) for _ in range(3)]
    throttle.create_table(made[0])
    try:
        yield made
    finally:
        for engine in made:
            engine.dispose()
        if request.param == "postgresql":
            drop_pg_database(name)


def _race(engines: list[Engine], attempts: int, attempt: Callable[[Engine], str]) -> Counter[str]:
    """Run `attempts` calls at once, spread over the engines; how many gave each outcome (an
    exception is an outcome too, by its class name)."""
    start = threading.Barrier(attempts)

    def one(k: int) -> str:
        start.wait()
        try:
            return attempt(engines[k % len(engines)])
        except Exception as exc:  # noqa: BLE001 - every outcome is counted and asserted on
            return type(exc).__name__

    with ThreadPoolExecutor(attempts) as pool:
        return Counter(pool.map(one, range(attempts)))


def _count(engine: Engine, name: str) -> int:
    table = throttle.failures_table.c
    with engine.connect() as conn:
        found = conn.execute(select(table.failures).where(table.bucket == name)).scalar()
    return int(found or 0)


def test_parallel_guesses_meet_the_allowance(engines: list[Engine]) -> None:
    def guess(engine: Engine) -> str:
        throttle.admit_login(engine, ALICE, POLICY, NOW)
        return "admitted"

    outcomes = _race(engines, 30, guess)
    assert outcomes == {"admitted": 6, "TooManyAttempts": 24}  # 5 free, the 6th blocks
    assert [_count(engines[0], name) for name in ALICE] == [6, 5, 6]


def test_parallel_taken_names_meet_the_allowance(engines: list[Engine]) -> None:
    policy = throttle.Policy(register_taken_allowance=20)
    bucket = throttle.registration_bucket("192.0.2.1")

    def taken(engine: Engine) -> str:
        throttle.admit(engine, bucket, policy.register_taken_allowance, policy, NOW)
        return "answered"

    assert _race(engines, 40, taken) == {"answered": 21, "TooManyAttempts": 19}


def test_counts_and_refunds_racing_lose_nothing(engines: list[Engine]) -> None:
    """Failures, successes and unchecked attempts on a few accounts from one address, all at
    once on the real clock: the address ends up holding exactly the failures."""
    policy = throttle.Policy(address_allowance=10_000, account_allowance=10_000)
    kinds = ("failure", "success", "unchecked")
    turn = iter(range(10_000))
    lock = threading.Lock()

    def attempt(engine: Engine) -> str:
        with lock:
            k = next(turn)
        names = throttle.buckets(f"user{k % 4}", "192.0.2.1")
        kind = kinds[k % 3]
        for _ in range(10):
            ticket = throttle.admit_login(engine, names, policy)
            if kind != "failure":
                throttle.refund(engine, ticket, clear=names[0] if kind == "success" else None)
        return kind

    outcomes = _race(engines, 24, attempt)
    assert outcomes == {"failure": 8, "success": 8, "unchecked": 8}  # and no error at all
    assert _count(engines[0], ALICE[2]) == 8 * 10
    for user in range(4):  # the account-wide buckets too (a success clears only its address's)
        failures = sum(1 for k in range(24) if k % 4 == user and kinds[k % 3] == "failure")
        account_wide = throttle.buckets(f"user{user}", "192.0.2.1")[1]
        assert _count(engines[0], account_wide) == failures * 10


def test_a_refund_lifts_the_block_its_attempt_set(engines: list[Engine]) -> None:
    """The refund finds its own block by value: the times must come back exactly as written."""
    policy = throttle.Policy(account_allowance=1, address_allowance=1)
    first, second = engines[:2]
    throttle.admit_login(first, ALICE, policy, NOW)  # a failure: stays
    ticket = throttle.admit_login(second, ALICE, policy, NOW + 0.123456789)  # blocks 1 s
    assert throttle.blocked(first, ALICE, NOW + 0.5) > 0
    throttle.refund(first, ticket)  # never checked
    assert throttle.blocked(second, ALICE, NOW + 0.5) == 0.0
    assert [_count(first, name) for name in ALICE] == [1, 1, 1]
    throttle.admit_login(first, ALICE, policy, NOW + 0.5)  # the second failure blocks again
    assert throttle.blocked(second, ALICE, NOW + 0.5) == 1.0
