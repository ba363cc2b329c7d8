"""Discovery strategies in-process, over a SQLite file: what each mode does on a call and on an
event, without a subscriber running (events are handed to the mode directly)."""

from __future__ import annotations

import time
from pathlib import Path
from unittest.mock import ANY

import pytest

from common.db import make_engine
from common.settings import Mode, Settings
from consumers import store
from consumers.app import service_spec
from consumers.discovery import MODES, build_discovery
from consumers.discovery.base import (
    Context,
    EventDiscovery,
    KnownCache,
    Stats,
    UnknownUser,
    UserDeactivated,
)
from consumers.stamps import STAMPS
from events import names
from events.model import CloudEvent, user_event
from tests.unit.fakes import Keys, claims

pytestmark = pytest.mark.anyio


@pytest.fixture
def ctx(tmp_path: Path) -> Context:
    spec = service_spec("notifications")
    engine = make_engine(f"sqlite:///{tmp_path / 'notifications.sqlite3'}")
    store.create_schema(engine, spec)
    settings = Settings(lab_state_dir=tmp_path)
    keys = Keys().verifier().key
    return Context(settings, spec, engine, "notifications", Stats(), KnownCache(60.0), keys)


def test_every_mode_has_one_implementation(ctx: Context) -> None:
    assert set(MODES) == set(Mode)
    for mode in Mode:
        assert build_discovery(mode, ctx).mode is mode


async def test_lazy_provisions_on_the_first_call_only(ctx: Context) -> None:
    lazy = build_discovery(Mode.LAZY, ctx)
    first = await lazy.resolve(claims(7))
    second = await lazy.resolve(claims(7))
    assert (first.first_call, second.first_call) == (True, False)
    assert first.user.discovered_by == "lazy"
    assert ctx.stats.lazy_provisions == 1
    assert ctx.spec.count(ctx.engine) == 1  # one welcome message
    assert lazy.subscriber_state() == "off"


@pytest.mark.parametrize("mode", [Mode.PUBSUB, Mode.STREAMS])
async def test_event_modes_refuse_and_count_unknown_users(ctx: Context, mode: Mode) -> None:
    discovery = build_discovery(mode, ctx)
    with pytest.raises(UnknownUser):
        await discovery.resolve(claims(7))
    assert ctx.stats.unknown_user_refusals == 1
    assert store.lookup(ctx.engine, 7) is None
    await discovery.stop()


@pytest.mark.parametrize("mode", [Mode.PUBSUB, Mode.STREAMS, Mode.HYBRID])
async def test_an_event_provisions_once(ctx: Context, mode: Mode) -> None:
    discovery = build_discovery(mode, ctx)
    assert isinstance(discovery, EventDiscovery)
    event = user_event(names.USER_REGISTERED, 7, "eve")
    await discovery.on_event(event)
    await discovery.on_event(event)  # redelivered
    found = await discovery.resolve(claims(7))
    assert (found.user.discovered_by, found.first_call) == ("event", True)
    assert (ctx.stats.event_provisions, ctx.stats.duplicates_ignored) == (1, 1)
    assert ctx.stats.last_propagation_ms is not None
    assert ctx.spec.count(ctx.engine) == 1
    await discovery.stop()


async def test_an_event_leaves_its_stage_stamps_in_order(ctx: Context) -> None:
    discovery = build_discovery(Mode.STREAMS, ctx)
    assert isinstance(discovery, EventDiscovery)
    commit = time.monotonic_ns()
    sent = user_event(names.USER_REGISTERED, 7, "eve").stamped(
        commitmono=commit, publishmono=time.monotonic_ns()
    )

    async def parse(raw: bytes | str) -> CloudEvent:
        return CloudEvent.parse(raw)

    event = await ctx.stages.timed(parse)(sent.to_json())  # the reader's decode, timed
    await discovery.on_event(event)
    stamps = ctx.stages.of(7)
    assert stamps is not None and list(stamps) == list(STAMPS)
    assert list(stamps.values()) == sorted(stamps.values()) and stamps["commit"] == commit
    assert ctx.stats.last_propagation_ms == round((stamps["provision_commit"] - commit) / 1e6, 3)
    await discovery.on_event(user_event(names.USER_REGISTERED, 8, "bob"))  # never stamped
    assert ctx.stages.of(8) == {"provision_start": ANY, "provision_commit": ANY}
    await discovery.stop()


async def test_hybrid_falls_back_to_lazy_and_a_late_event_changes_nothing(ctx: Context) -> None:
    hybrid = build_discovery(Mode.HYBRID, ctx)
    assert isinstance(hybrid, EventDiscovery)
    found = await hybrid.resolve(claims(7))
    assert found.user.discovered_by == "lazy"
    await hybrid.on_event(user_event(names.USER_REGISTERED, 7, "eve"))
    assert store.lookup(ctx.engine, 7).discovered_by == "lazy"  # type: ignore[union-attr]
    assert (ctx.stats.lazy_provisions, ctx.stats.duplicates_ignored) == (1, 1)
    await hybrid.stop()


@pytest.mark.parametrize("later", [Mode.LAZY, Mode.HYBRID, Mode.STREAMS])
async def test_a_deactivated_user_is_never_brought_back(ctx: Context, later: Mode) -> None:
    streams = build_discovery(Mode.STREAMS, ctx)
    assert isinstance(streams, EventDiscovery)
    await streams.on_event(user_event(names.USER_REGISTERED, 7, "eve"))
    await streams.resolve(claims(7))  # cached as active
    await streams.on_event(user_event(names.USER_DEACTIVATED, 7, "eve"))
    await streams.on_event(user_event(names.USER_REGISTERED, 7, "eve"))  # a late duplicate
    with pytest.raises(UserDeactivated):
        await build_discovery(later, ctx).resolve(claims(7))
    assert ctx.stats.deactivations == 1
    assert store.lookup(ctx.engine, 7).active is False  # type: ignore[union-attr]
    await streams.stop()


@pytest.mark.parametrize("later", [Mode.LAZY, Mode.HYBRID, Mode.STREAMS])
async def test_a_user_the_block_list_forgot_is_still_refused(ctx: Context, later: Mode) -> None:
    ctx.cache = KnownCache(60.0, size=1, seen_size=1, blocked_size=1)
    streams = build_discovery(Mode.STREAMS, ctx)
    assert isinstance(streams, EventDiscovery)
    await streams.on_events(
        [
            user_event(names.USER_REGISTERED, 7, "eve"),
            user_event(names.USER_DEACTIVATED, 7, "eve"),
            user_event(names.USER_DEACTIVATED, 8, "zed"),  # pushes 7 out of the block list
        ]
    )
    assert not ctx.cache.blocked(7) and ctx.cache.blocked(8)
    discovery = build_discovery(later, ctx)
    for _ in range(2):  # the database answers every time, and nothing revives the user
        with pytest.raises(UserDeactivated):
            await discovery.resolve(claims(7))
    assert ctx.cache.sizes()["cached"] == 0 and not ctx.cache.blocked(7)
    assert store.lookup(ctx.engine, 7).active is False  # type: ignore[union-attr]
    await streams.stop()
