"""Consumer persistence on SQLite and PostgreSQL: idempotent provisioning and tombstones, one
event at a time and in batches."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import select

from common.db import make_engine
from consumers import store
from consumers.notifications import NotificationsSpec
from consumers.profiles import ProfilesSpec
from consumers.spec import ServiceSpec
from events.model import CloudEvent, user_event
from tests.support import stored_text


def test_provision_is_idempotent_across_paths(db_url: str) -> None:
    engine = make_engine(db_url)
    spec = NotificationsSpec()
    store.create_schema(engine, spec)
    user, created = store.provision(engine, spec, 7, None, "lazy")
    assert created and user.discovered_by == "lazy" and user.active
    again, created_again = store.provision(engine, spec, 7, "eve", "event")
    assert not created_again and again.discovered_by == "lazy"
    assert spec.count(engine) == 1
    engine.dispose()


def test_concurrent_provisions_make_one_row(db_url: str) -> None:
    # Two engines stand in for two processes sharing one database.
    engines = [make_engine(db_url), make_engine(db_url)]
    spec = ProfilesSpec()
    store.create_schema(engines[0], spec)
    with ThreadPoolExecutor(20) as pool:
        results = list(
            pool.map(
                lambda i: store.provision(engines[i % 2], spec, 99, None, "lazy")[1], range(40)
            )
        )
    assert results.count(True) == 1
    assert spec.count(engines[0]) == 1 and store.count_known(engines[0]) == 1
    with ThreadPoolExecutor(20) as pool:
        firsts = list(pool.map(lambda i: store.mark_first_call(engines[i % 2], 99), range(20)))
    assert firsts.count(True) == 1
    for engine in engines:
        engine.dispose()


def test_deactivated_user_is_never_revived(db_url: str) -> None:
    engine = make_engine(db_url)
    spec = ProfilesSpec()
    store.create_schema(engine, spec)
    # Deactivation of a user never seen leaves a tombstone.
    assert store.deactivate(engine, 5, "zed", "event") is True
    user, created = store.provision(engine, spec, 5, "zed", "event")
    assert not created and not user.active
    user, created = store.provision(engine, spec, 5, None, "lazy")
    assert not created and not user.active
    assert spec.count(engine) == 0
    assert store.deactivate(engine, 5, "zed", "event") is False
    engine.dispose()


def test_older_versions_never_overwrite_newer_ones(db_url: str) -> None:
    engine = make_engine(db_url)
    spec = ProfilesSpec()
    store.create_schema(engine, spec)
    store.provision(engine, spec, 8, "eve", "event", attributes={"plan": "free"}, version=1)
    assert store.apply_attributes(engine, 8, {"plan": "pro"}, 3) == "applied"
    assert store.apply_attributes(engine, 8, {"plan": "free"}, 2) == "stale"
    assert store.apply_attributes(engine, 8, {"plan": "free"}, 3) == "stale"
    assert store.apply_attributes(engine, 9, {"plan": "pro"}, 5) == "unknown"
    user = store.lookup(engine, 8)
    assert user is not None and user.attributes == {"plan": "pro"}
    assert user.attributes_version == 3 and user.attributes_seen_at is not None
    assert store.lookup(engine, 9) is None
    engine.dispose()


def _registered(*user_ids: int) -> list[CloudEvent]:
    return [
        user_event("user.registered", uid, f"user-{uid}", attributes={"plan": "free"}, version=1)
        for uid in user_ids
    ]


def test_a_replayed_batch_changes_nothing(db_url: str) -> None:
    engine = make_engine(db_url)
    spec = ProfilesSpec()
    store.create_schema(engine, spec)
    batch = _registered(1, 2, 3, 2)  # a duplicate inside the batch too
    assert store.apply_events(engine, spec, batch) == ["created"] * 3 + ["duplicate"]
    assert store.apply_events(engine, spec, batch) == ["duplicate"] * 4  # redelivered whole
    assert store.count_known(engine) == spec.count(engine) == 3
    user = store.lookup(engine, 2)
    assert user is not None and user.discovered_by == "event" and user.attributes_version == 1
    engine.dispose()


def test_a_batch_applies_each_users_events_in_stream_order(db_url: str) -> None:
    engine = make_engine(db_url)
    spec = NotificationsSpec()
    store.create_schema(engine, spec)
    batch = [
        *_registered(1, 2),
        user_event("user.updated", 1, "user-1", attributes={"plan": "pro"}, version=2),
        user_event("user.deactivated", 2, "user-2"),
        user_event("user.deactivated", 4, "user-4"),  # before its own registration
        *_registered(3, 4),
        user_event("user.updated", 1, "user-1", attributes={"plan": "free"}, version=2),
    ]
    outcomes = store.apply_events(engine, spec, batch)
    assert outcomes == [
        "created",
        "created",
        "applied",
        "deactivated",
        "deactivated",
        "created",
        "duplicate",  # the tombstone wins: a late registration never revives a user
        "stale",
    ]
    one, two, four = (store.lookup(engine, uid) for uid in (1, 2, 4))
    assert one is not None and one.attributes == {"plan": "pro"} and one.active
    assert two is not None and not two.active
    assert four is not None and not four.active
    assert spec.count(engine) == 3  # welcome messages for 1, 2 and 3 only
    engine.dispose()


@pytest.mark.parametrize("spec", [ProfilesSpec(), NotificationsSpec()], ids=lambda s: s.name)
def test_a_batch_stores_rows_as_sqlalchemys_insert_stores_them(
    db_url: str, spec: ServiceSpec
) -> None:
    engine = make_engine(db_url)
    store.create_schema(engine, spec)
    batch = [
        *_registered(1, 2),
        user_event("user.registered", 3, "zoë"),  # no attributes: JSON null, no seen-at time
        *_registered(4),
    ]
    assert store.apply_events(engine, spec, batch) == ["created"] * 4
    # The same rows again under other ids, written by SQLAlchemy's own insert.
    for table in (store.known, *spec.tables()):
        with engine.begin() as conn:
            rows = [row._asdict() for row in conn.execute(select(table))]
            conn.execute(table.insert(), [{**row, "user_id": row["user_id"] + 100} for row in rows])
        text = stored_text(engine, table)
        assert len(text) == 8
        for user_id in range(1, 5):
            assert text[user_id] == text[user_id + 100], (table.name, user_id)
    engine.dispose()


def test_a_user_another_replica_inserted_is_a_duplicate_in_a_large_batch(db_url: str) -> None:
    engines = [make_engine(db_url), make_engine(db_url)]  # two replicas sharing one database
    spec = ProfilesSpec()
    store.create_schema(engines[0], spec)
    for user_id in (5, 150):
        store.provision(engines[1], spec, user_id, f"user-{user_id}", "lazy")
    users = range(1, 301)  # several statements on SQLite
    batch = _registered(*users, 7, 300)  # 7 and 300 again, at the end
    outcomes = store.apply_events(engines[0], spec, batch)
    assert (
        outcomes
        == ["duplicate" if uid in (5, 150) else "created" for uid in users] + ["duplicate"] * 2
    )
    assert store.count_known(engines[0]) == spec.count(engines[0]) == 300
    lazy = store.lookup(engines[0], 150)
    assert lazy is not None and lazy.discovered_by == "lazy"
    for engine in engines:
        engine.dispose()
