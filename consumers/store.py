"""Every query a consumer service runs about users, in one layer (sync; run in a thread)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import Connection, Engine, Table, func, select, update
from sqlmodel import SQLModel

from common.db import insert_ignore, insert_ignore_rows
from consumers.models import KnownUser, KnownUserRow
from consumers.spec import ServiceSpec
from events import names
from events.model import CloudEvent

known: Table = KnownUserRow.__table__  # type: ignore[attr-defined]


def _utc(moment: datetime | None) -> datetime | None:
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment


def _known(row: Any) -> KnownUser:
    since = _utc(row.known_since)
    assert since is not None
    return KnownUser(
        user_id=row.user_id,
        discovered_by=row.discovered_by,
        known_since=since,
        active=bool(row.active),
        first_call_at=row.first_call_at,
        attributes=dict(row.attributes or {}),
        attributes_version=int(row.attributes_version or 0),
        attributes_seen_at=_utc(row.attributes_seen_at),
    )


def create_schema(engine: Engine, spec: ServiceSpec) -> None:
    """Create known_users and the service's own tables."""
    SQLModel.metadata.create_all(engine, tables=[known, *spec.tables()])


def lookup(engine: Engine, user_id: int) -> KnownUser | None:
    """The known_users row for user_id, if any."""
    with engine.connect() as conn:
        row = conn.execute(select(known).where(known.c.user_id == user_id)).first()
    return _known(row) if row else None


def provision(
    engine: Engine,
    spec: ServiceSpec,
    user_id: int,
    username: str | None,
    via: str,
    calling: bool = False,
    attributes: Mapping[str, Any] | None = None,
    version: int = 0,
) -> tuple[KnownUser, bool]:
    """Insert the user and the service's records once; (row, created). Never revives a tombstone.

    `calling` records the first call in the same transaction (lazy provisioning on a call);
    `attributes` at `version` are the first copy of the user's attributes.
    """
    now = datetime.now(UTC)
    with engine.begin() as conn:
        row = conn.execute(
            insert_ignore(engine, known)
            .values(
                user_id=user_id,
                username=username,
                discovered_by=via,
                known_since=now,
                active=True,
                first_call_at=now if calling else None,
                attributes=dict(attributes or {}) if version else None,
                attributes_version=version,
                attributes_seen_at=now if version else None,
            )
            .returning(*known.c)
        ).first()
        created = row is not None
        if created:
            spec.provision(conn, [(user_id, username)])
        else:
            row = conn.execute(select(known).where(known.c.user_id == user_id)).first()
    assert row is not None
    return _known(row), created


def lookup_or_provision(
    engine: Engine,
    spec: ServiceSpec,
    user_id: int,
    likely_new: bool = False,
    attributes: Mapping[str, Any] | None = None,
    version: int = 0,
) -> tuple[KnownUser, str]:
    """Lazy discovery in one worker-thread hop: ("known" | "created" | "raced", row).

    For a user this process has never seen, the insert goes first and a conflict falls back to
    the existing row, which saves the read on the path every new user takes.
    """
    if not likely_new:
        found = lookup(engine, user_id)
        if found is not None:
            return found, "known"
    user, created = provision(
        engine, spec, user_id, None, "lazy", calling=True, attributes=attributes, version=version
    )
    if created:
        return user, "created"
    return user, "known" if likely_new else "raced"


AttributeOutcome = Literal["applied", "stale", "unknown"]


def apply_attributes(
    engine: Engine, user_id: int, attributes: Mapping[str, Any], version: int
) -> AttributeOutcome:
    """Replace the copy of a user's attributes if `version` is newer than the one held: an
    older version never overwrites a newer one, whatever order they arrive in."""
    with engine.begin() as conn:
        return _apply_attributes(conn, user_id, attributes, version)


def _apply_attributes(
    conn: Connection, user_id: int, attributes: Mapping[str, Any], version: int
) -> AttributeOutcome:
    row = conn.execute(
        update(known)
        .where(known.c.user_id == user_id, known.c.attributes_version < version)
        .values(
            attributes=dict(attributes),
            attributes_version=version,
            attributes_seen_at=datetime.now(UTC),
        )
        .returning(known.c.user_id)
    ).first()
    if row is not None:
        return "applied"
    held = conn.execute(select(known.c.user_id).where(known.c.user_id == user_id)).first()
    return "stale" if held is not None else "unknown"


def mark_first_call(engine: Engine, user_id: int) -> bool:
    """Record the user's first call; True for exactly one caller."""
    with engine.begin() as conn:
        row = conn.execute(
            update(known)
            .where(known.c.user_id == user_id, known.c.first_call_at.is_(None))
            .values(first_call_at=datetime.now(UTC))
            .returning(known.c.user_id)
        ).first()
    return row is not None


def deactivate(engine: Engine, user_id: int, username: str | None, via: str) -> bool:
    """Block a user for good (a tombstone if unknown); True if this changed anything."""
    with engine.begin() as conn:
        return _deactivate(conn, user_id, username, via)


def _deactivate(conn: Connection, user_id: int, username: str | None, via: str) -> bool:
    now = datetime.now(UTC)
    inserted = conn.execute(
        insert_ignore(conn.engine, known)
        .values(
            user_id=user_id,
            username=username,
            discovered_by=via,
            known_since=now,
            active=False,
            deactivated_at=now,
        )
        .returning(known.c.user_id)
    ).first()
    updated = conn.execute(
        update(known)
        .where(known.c.user_id == user_id, known.c.active.is_(True))
        .values(active=False, deactivated_at=now)
        .returning(known.c.user_id)
    ).first()
    return inserted is not None or updated is not None


# What applying one event did: a new user, a copy of attributes replaced, a user blocked, or
# nothing (a duplicate, a stale or an unknown user's update).
EventOutcome = Literal["created", "duplicate", "applied", "stale", "unknown", "deactivated"]


def apply_events(
    engine: Engine, spec: ServiceSpec, events: Sequence[CloudEvent]
) -> list[EventOutcome]:
    """Apply events in stream order in one transaction; the outcome of each, in order.

    Runs of user.registered are written with one multi-row INSERT ... ON CONFLICT DO NOTHING
    per table; an update or a deactivation first writes the registrations before it, so each
    user's events apply in the order they were appended. Idempotent: applied twice, the second
    time every registration is a duplicate and nothing changes.
    """
    outcomes: list[EventOutcome] = ["duplicate"] * len(events)
    with engine.begin() as conn:
        waiting: list[int] = []  # indexes of registrations not written yet
        for i, event in enumerate(events):
            data = event.data
            if event.type == names.USER_REGISTERED:
                waiting.append(i)
                continue
            _register(conn, spec, events, waiting, outcomes)
            if event.type == names.USER_UPDATED:
                assert data.attributes is not None and data.version is not None
                outcomes[i] = _apply_attributes(conn, data.user_id, data.attributes, data.version)
            elif _deactivate(conn, data.user_id, data.username, "event"):
                outcomes[i] = "deactivated"
        _register(conn, spec, events, waiting, outcomes)
    return outcomes


def _register(
    conn: Connection,
    spec: ServiceSpec,
    events: Sequence[CloudEvent],
    waiting: list[int],
    outcomes: list[EventOutcome],
) -> None:
    """Write the waiting registrations: the first event of each user inserted just now is
    "created", every other one a duplicate. Empties `waiting`."""
    if not waiting:
        return
    now = datetime.now(UTC)
    rows = []
    for i in waiting:
        data = events[i].data
        version = data.version or 0
        rows.append(
            {
                "user_id": data.user_id,
                "username": data.username,
                "discovered_by": "event",
                "known_since": now,
                "active": True,
                "first_call_at": None,
                "attributes": dict(data.attributes or {}) if version else None,
                "attributes_version": version,
                "attributes_seen_at": now if version else None,
            }
        )
    new = set(insert_ignore_rows(conn, known, rows, returning=known.c.user_id))
    created: list[tuple[int, str | None]] = []
    for i in waiting:
        data = events[i].data
        if data.user_id in new:
            new.discard(data.user_id)
            outcomes[i] = "created"
            created.append((data.user_id, data.username))
    if created:
        spec.provision(conn, created)
    waiting.clear()


def count_known(engine: Engine) -> int:
    """How many users this service knows (active or not)."""
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(known)).scalar_one())


def list_known(engine: Engine) -> list[KnownUser]:
    """Every known user, by id."""
    with engine.connect() as conn:
        rows = conn.execute(select(known).order_by(known.c.user_id)).all()
    return [_known(r) for r in rows]
