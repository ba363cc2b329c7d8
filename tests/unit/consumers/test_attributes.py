"""Attribute copies in consumers: user.updated ordered by version, and tokens in lazy mode."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from common.db import make_engine
from common.settings import Mode, Settings
from consumers import store
from consumers.app import service_spec
from consumers.discovery import build_discovery
from consumers.discovery.base import Context, KnownCache, Stats, handle_event
from events.model import user_event
from tests.unit.fakes import Keys, claims

pytestmark = pytest.mark.anyio


@pytest.fixture
def ctx(tmp_path: Path) -> Context:
    spec = service_spec("profiles")
    engine = make_engine(f"sqlite:///{tmp_path / 'profiles.sqlite3'}")
    store.create_schema(engine, spec)
    settings = Settings(lab_state_dir=tmp_path)
    return Context(
        settings, spec, engine, "profiles", Stats(), KnownCache(1.0), Keys().verifier().key
    )


async def test_updates_apply_by_version_and_odd_ones_are_counted(ctx: Context) -> None:
    registered = user_event(
        "user.registered", 3, "eve", attributes={"plan": "free", "email": None}, version=1
    )
    v2 = user_event("user.updated", 3, "eve", attributes={"plan": "pro"}, version=2)
    v3 = user_event("user.updated", 3, "eve", attributes={"plan": "free"}, version=3)
    stranger = user_event("user.updated", 77, "zed", attributes={"plan": "pro"}, version=4)
    for event in (registered, v3, v2, v2, stranger):
        await handle_event(ctx, event)
    user = store.lookup(ctx.engine, 3)
    assert user is not None and user.attributes == {"plan": "free"} and user.attributes_version == 3
    assert (ctx.stats.attribute_updates, ctx.stats.stale_updates) == (1, 2)
    assert ctx.stats.unknown_updates == 1 and store.lookup(ctx.engine, 77) is None
    seen = user.attributes_seen_at
    assert seen is not None and seen <= datetime.now(UTC)


@pytest.mark.parametrize("mode", [Mode.LAZY, Mode.HYBRID])
async def test_token_modes_keep_the_newest_token_attributes(ctx: Context, mode: Mode) -> None:
    discovery = build_discovery(mode, ctx)
    seen = []
    for token in (
        claims(5, 1, plan="free"),
        claims(5, 2, plan="pro"),
        claims(5, 1, plan="free"),  # an old token still in use
        claims(5),  # a token packing nothing
    ):
        found = await discovery.resolve(token)
        seen.append((dict(found.user.attributes), found.user.attributes_version))
    assert seen == [({"plan": "free"}, 1)] + [({"plan": "pro"}, 2)] * 3
    user = store.lookup(ctx.engine, 5)
    assert user is not None and user.attributes == {"plan": "pro"} and user.attributes_version == 2
    assert ctx.stats.lazy_provisions == 1 and ctx.stats.attribute_updates == 1
    await discovery.stop()


async def test_event_modes_ignore_token_attributes(ctx: Context) -> None:
    streams = build_discovery(Mode.STREAMS, ctx)
    await handle_event(
        ctx, user_event("user.registered", 5, "eve", attributes={"plan": "free"}, version=1)
    )
    found = await streams.resolve(claims(5, 2, plan="pro"))
    assert dict(found.user.attributes) == {"plan": "free"} and found.user.attributes_version == 1
    await streams.stop()
