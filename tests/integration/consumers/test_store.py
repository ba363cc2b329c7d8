"""Consumer persistence on SQLite and PostgreSQL: idempotent provisioning and tombstones, one
event at a time and in batches."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from common.db import make_engine
from consumers import store
from consumers.notifications import NotificationsSpec
from consumers.profiles import ProfilesSpec
from events.model import CloudEvent, user_event


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
