"""Failed-login throttling, counted in the auth database so every auth process shares one count.

Three buckets take each failed login: the account at this client address, the account across all
addresses, and the client address alone. A bucket's first `allowance` failures are free; each
further one blocks the bucket for twice as long as the one before, up to `cap` seconds, and a
bucket forgets its failures after `window` seconds without one. Successful logins never count,
and clear the account-at-address bucket.

The account-wide bucket stops guessing spread over many addresses, but it also lets failures from
elsewhere slow the owner down. So that one address cannot trip it cheaply, an address adds to it
only while that address is within its own allowance for the account: tripping it takes at least
`account_wide_allowance / account_allowance` addresses. No bucket stays blocked for more than
`cap` seconds at a time.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    Float,
    Integer,
    String,
    case,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, SQLModel


class LoginFailures(SQLModel, table=True):
    """Recent failed logins of one bucket and until when it is blocked."""

    __tablename__ = "login_failures"

    bucket: str = Field(primary_key=True, max_length=400, sa_type=String(400))
    failures: int = Field(default=0, sa_type=Integer)
    last_failure: float = Field(default=0.0, sa_type=Float)
    blocked_until: float = Field(default=0.0, sa_type=Float)


failures_table = LoginFailures.__table__  # type: ignore[attr-defined]


class TooManyAttempts(Exception):
    """The account (at this address or anywhere), or the address, is blocked for `retry_after`
    seconds."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"retry after {retry_after:.1f}s")
        self.retry_after = retry_after

    @property
    def headers(self) -> dict[str, str]:
        """What the 429 answer carries: when to try again, in whole seconds."""
        return {"Retry-After": str(math.ceil(self.retry_after))}


@dataclass(frozen=True)
class Policy:
    """How many failures are free, how long the backoff may grow, and how long they count."""

    account_allowance: int = 5
    account_wide_allowance: int = 50
    address_allowance: int = 30
    cap: float = 60.0
    window: float = 900.0

    def blocked_for(self, failures: int, allowance: int) -> float:
        """Seconds a bucket is blocked after its n-th failure: 0, then 1, 2, 4 ... up to cap."""
        over = failures - allowance
        return 0.0 if over <= 0 else float(min(2 ** (over - 1), self.cap))


Buckets = tuple[str, str, str]


def buckets(account_key: str, address: str) -> Buckets:
    """(the account at this address, the account at any address, the address)."""
    return f"acct:{address}:{account_key}", f"acct:*:{account_key}", f"addr:{address}"


def create_table(engine: Engine) -> None:
    """Create the login_failures table if missing."""
    SQLModel.metadata.create_all(engine, tables=[failures_table])


def blocked(
    engine: Engine, names: tuple[str, ...], now: float | None = None
) -> tuple[float, set[str]]:
    """(seconds until every bucket is open, the buckets with failures on record)."""
    now = time.time() if now is None else now
    table = failures_table.c
    with engine.connect() as conn:
        rows = conn.execute(
            select(table.bucket, table.blocked_until, table.failures).where(table.bucket.in_(names))
        ).all()
    wait = max((float(r[1]) - now for r in rows), default=0.0)
    return max(wait, 0.0), {str(r[0]) for r in rows if int(r[2]) > 0}


def record_failure(
    engine: Engine, names: Buckets, policy: Policy, now: float | None = None
) -> None:
    """Count one failure in each bucket, atomically, and block those over their allowance. The
    account-wide bucket counts it only while the account at this address is within its allowance."""
    now = time.time() if now is None else now
    at_address, account_wide, address = names
    with engine.begin() as conn:
        count = _count(conn, at_address, now, policy)
        _block_over(conn, at_address, policy.blocked_for(count, policy.account_allowance), now)
        if count <= policy.account_allowance:
            wide = _count(conn, account_wide, now, policy)
            _block_over(
                conn, account_wide, policy.blocked_for(wide, policy.account_wide_allowance), now
            )
        count = _count(conn, address, now, policy)
        _block_over(conn, address, policy.blocked_for(count, policy.address_allowance), now)


def _count(conn: Connection, name: str, now: float, policy: Policy) -> int:
    """Add one failure to a bucket (creating it if need be) and return its count."""
    table = failures_table.c
    count = conn.execute(
        update(failures_table)
        .where(table.bucket == name)
        .values(failures=_after_forgetting(now, policy.window), last_failure=now)
        .returning(table.failures)
    ).scalar_one_or_none()
    if count is not None:
        return int(count)
    try:
        with conn.begin_nested():
            conn.execute(
                insert(failures_table).values(
                    bucket=name, failures=1, last_failure=now, blocked_until=0.0
                )
            )
    except IntegrityError:  # another process inserted it first: count on top
        return int(
            conn.execute(
                update(failures_table)
                .where(table.bucket == name)
                .values(failures=table.failures + 1, last_failure=now)
                .returning(table.failures)
            ).scalar_one()
        )
    return 1


def _block_over(conn: Connection, name: str, wait: float, now: float) -> None:
    """Block a bucket for `wait` seconds from now, if it is over its allowance."""
    if wait:
        conn.execute(
            update(failures_table)
            .where(failures_table.c.bucket == name)
            .values(blocked_until=now + wait)
        )


def _after_forgetting(now: float, window: float) -> ColumnElement[int]:
    """failures + 1, or 1 when the last failure is older than the window (one SQL expression)."""
    table = failures_table.c
    return case((table.last_failure < now - window, 1), else_=table.failures + 1)


def clear(engine: Engine, name: str) -> None:
    """Forget a bucket's failures (a successful login of the account at this address)."""
    with engine.begin() as conn:
        conn.execute(
            update(failures_table)
            .where(failures_table.c.bucket == name)
            .values(failures=0, blocked_until=0.0)
        )
