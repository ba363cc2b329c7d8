"""Login and registration throttling, counted in the auth database so every auth process shares
one count.

Three buckets take each login attempt: the account at this client address, the account across
all addresses, and the client address alone. An attempt takes its place in them before its
password is checked, in one transaction that holds the buckets' rows: if any bucket is blocked it
is refused and counts nowhere, else it counts in each, so parallel guesses cannot all slip past
one check. A bucket's first `allowance` attempts are free; each further one blocks the bucket for
twice as long as the one before, up to `cap` seconds, and a bucket forgets its attempts after
`window` seconds without one. A failed attempt stays counted. A successful one is refunded: it
clears the account-at-address bucket and gives the others their count back, lifting the block it
set unless a later attempt has set another since; an attempt whose password was never checked
(hashing full, an error) gets its count back everywhere. Sequential guesses therefore meet the
same limits as if only failures counted; parallel ones are counted while in flight.

The account-wide bucket stops guessing spread over many addresses, but it also lets failures from
elsewhere slow the owner down. So that one address cannot trip it cheaply, an address adds to it
only while that address is within its own allowance for the account: tripping it takes at least
`account_wide_allowance / account_allowance` addresses. No bucket stays blocked for more than
`cap` seconds at a time.

Registration counts its answers that a name was already taken on the same terms, per address
(`reg:{address}`, `register_taken_allowance` free), so a client cannot test many names for
existence; while that bucket is blocked, every registration from the address is refused,
whatever the name.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import (
    Boolean,
    Connection,
    Engine,
    Float,
    Insert,
    Integer,
    String,
    bindparam,
    case,
    select,
    update,
)
from sqlmodel import Field, SQLModel

from common.db import insert_ignore


class LoginFailures(SQLModel, table=True):
    """One bucket: attempts counted in its window, the last one's time, and until when it is
    blocked (the table and column names predate counting attempts before the check)."""

    __tablename__ = "login_failures"

    bucket: str = Field(primary_key=True, max_length=400, sa_type=String(400))
    failures: int = Field(default=0, sa_type=Integer)
    last_failure: float = Field(default=0.0, sa_type=Float)
    blocked_until: float = Field(default=0.0, sa_type=Float)


failures_table = LoginFailures.__table__  # type: ignore[attr-defined]


class TooManyAttempts(Exception):
    """A bucket of this attempt is blocked for `retry_after` seconds."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"retry after {retry_after:.1f}s")
        self.retry_after = retry_after

    @property
    def headers(self) -> dict[str, str]:
        """What the 429 answer carries: when to try again, in whole seconds."""
        return {"Retry-After": str(math.ceil(self.retry_after))}


@dataclass(frozen=True)
class Policy:
    """How many attempts are free, how long the backoff may grow, and how long they count."""

    account_allowance: int = 5
    account_wide_allowance: int = 50
    address_allowance: int = 30
    register_taken_allowance: int = 20
    cap: float = 60.0
    window: float = 900.0

    def blocked_for(self, count: int, allowance: int) -> float:
        """Seconds a bucket is blocked after its n-th attempt: 0, then 1, 2, 4 ... up to cap."""
        over = count - allowance
        return 0.0 if over <= 0 else float(min(2 ** (over - 1), self.cap))


Buckets = tuple[str, str, str]


def buckets(account_key: str, address: str) -> Buckets:
    """(the account at this address, the account at any address, the address)."""
    return f"acct:{address}:{account_key}", f"acct:*:{account_key}", f"addr:{address}"


def registration_bucket(address: str) -> str:
    """The bucket of an address's taken-name answers."""
    return f"reg:{address}"


@dataclass(frozen=True)
class Counted:
    """One bucket's share of an admitted attempt: what the attempt wrote and what it replaced,
    so that a refund can undo exactly its own part."""

    bucket: str
    at: float
    blocked_until: float
    previous_at: float
    previous_blocked_until: float


@dataclass(frozen=True)
class Ticket:
    """An admitted attempt: the buckets that counted it."""

    counted: tuple[Counted, ...]


@dataclass(frozen=True)
class _Row:
    bucket: str
    count: int
    at: float
    blocked_until: float


def create_table(engine: Engine) -> None:
    """Create the login_failures table if missing."""
    SQLModel.metadata.create_all(engine, tables=[failures_table])


# Statements built once: building them per call cost more than running them.
_c = failures_table.c
_BLOCKED_UNTIL = select(_c.blocked_until).where(_c.bucket.in_(bindparam("b_names", expanding=True)))
_HELD = (
    select(_c.bucket, _c.failures, _c.last_failure, _c.blocked_until)
    .where(_c.bucket.in_(bindparam("b_names", expanding=True)))
    .order_by(_c.bucket)
    .with_for_update()
)
_COUNT = (
    update(failures_table)
    .where(_c.bucket == bindparam("b_bucket"))
    .values(
        failures=bindparam("b_count"),
        last_failure=bindparam("b_at"),
        blocked_until=bindparam("b_until"),
    )
)
_clear = bindparam("b_clear", type_=Boolean)
_REFUND = (
    update(failures_table)
    .where(_c.bucket == bindparam("b_bucket"))
    .values(
        failures=case((_clear, 0), (_c.failures > 0, _c.failures - 1), else_=0),
        blocked_until=case(
            (_clear, 0.0),
            (_c.blocked_until == bindparam("b_until"), bindparam("b_previous_until")),
            else_=_c.blocked_until,
        ),
        last_failure=case(
            (_c.last_failure == bindparam("b_at"), bindparam("b_previous_at")),
            else_=_c.last_failure,
        ),
    )
)
_CREATE: dict[str, Insert] = {}


def blocked(engine: Engine, names: Iterable[str], now: float | None = None) -> float:
    """Seconds until every bucket is open (0.0: none is blocked); reads, counts nothing."""
    now = time.time() if now is None else now
    with engine.connect() as conn:
        until = conn.execute(_BLOCKED_UNTIL, {"b_names": list(names)}).scalars()
        return max([float(u) - now for u in until] + [0.0])


def admit_login(engine: Engine, names: Buckets, policy: Policy, now: float | None = None) -> Ticket:
    """Count a login attempt before its password is checked, or refuse it (TooManyAttempts,
    nothing counted) if any bucket is blocked. The account-wide bucket counts it only while the
    account at this address is within its allowance."""
    now = time.time() if now is None else now
    at_address, account_wide, address = names
    with engine.begin() as conn:
        rows = _held(conn, names, now)
        counted = [_counted(rows[at_address], policy.account_allowance, policy, now)]
        if _count_of(rows[at_address], policy, now) <= policy.account_allowance:
            counted.append(_counted(rows[account_wide], policy.account_wide_allowance, policy, now))
        counted.append(_counted(rows[address], policy.address_allowance, policy, now))
        _write(conn, counted, rows, policy, now)
    return Ticket(tuple(counted))


def admit(
    engine: Engine, name: str, allowance: int, policy: Policy, now: float | None = None
) -> Ticket:
    """Count one attempt in a single bucket, or refuse it (TooManyAttempts) if it is blocked."""
    now = time.time() if now is None else now
    with engine.begin() as conn:
        rows = _held(conn, (name,), now)
        counted = [_counted(rows[name], allowance, policy, now)]
        _write(conn, counted, rows, policy, now)
    return Ticket(tuple(counted))


def refund(engine: Engine, ticket: Ticket, clear: str | None = None) -> None:
    """Give an attempt's count back to each bucket that took it, and lift the block it set unless
    a later attempt has set another since; the bucket named `clear` (the account at this address,
    after a success) forgets all its attempts instead."""
    params = [
        {
            "b_bucket": part.bucket,
            "b_clear": part.bucket == clear,
            "b_until": part.blocked_until,
            "b_previous_until": part.previous_blocked_until,
            "b_at": part.at,
            "b_previous_at": part.previous_at,
        }
        # Buckets in the same order as _held takes them, so two transactions never each hold
        # a row the other waits for.
        for part in sorted(ticket.counted, key=lambda c: c.bucket)
    ]
    with engine.begin() as conn:
        conn.execute(_REFUND, params)


def _held(conn: Connection, names: Iterable[str], now: float) -> dict[str, _Row]:
    """The buckets' rows, created if missing and held until the transaction ends; raises
    TooManyAttempts if any is blocked."""
    ordered = sorted(set(names))
    # The insert comes first: on SQLite it takes the database's write lock (waiting for it
    # under the busy timeout) before anything is read, so the read below cannot go stale and no
    # lock upgrade can fail with "database is locked". On PostgreSQL, FOR UPDATE holds the rows,
    # always taken in name order.
    empty = {"failures": 0, "last_failure": 0.0, "blocked_until": 0.0}
    conn.execute(_create(conn), [{"bucket": name, **empty} for name in ordered])
    found = conn.execute(_HELD, {"b_names": ordered}).all()
    rows = {str(r[0]): _Row(str(r[0]), int(r[1]), float(r[2]), float(r[3])) for r in found}
    wait = max(row.blocked_until - now for row in rows.values())
    if wait > 0:
        raise TooManyAttempts(wait)
    return rows


def _create(conn: Connection) -> Insert:
    """INSERT ... ON CONFLICT DO NOTHING of a bucket row, for the connection's dialect."""
    dialect = conn.dialect.name
    if dialect not in _CREATE:
        _CREATE[dialect] = insert_ignore(conn.engine, failures_table)
    return _CREATE[dialect]


def _count_of(row: _Row, policy: Policy, now: float) -> int:
    """The bucket's count with this attempt: one more, or 1 once the window has forgotten it."""
    return 1 if row.at < now - policy.window else row.count + 1


def _counted(row: _Row, allowance: int, policy: Policy, now: float) -> Counted:
    """The attempt's share of a held row: blocked if that puts the bucket over its allowance."""
    wait = policy.blocked_for(_count_of(row, policy, now), allowance)
    return Counted(
        row.bucket, now, now + wait if wait else row.blocked_until, row.at, row.blocked_until
    )


def _write(
    conn: Connection, counted: list[Counted], rows: dict[str, _Row], policy: Policy, now: float
) -> None:
    """Store each held row with the attempt counted."""
    params = [
        {
            "b_bucket": part.bucket,
            "b_count": _count_of(rows[part.bucket], policy, now),
            "b_at": part.at,
            "b_until": part.blocked_until,
        }
        for part in counted
    ]
    conn.execute(_COUNT, params)
