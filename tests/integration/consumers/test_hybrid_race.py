"""Hybrid mode on SQLite and PostgreSQL: the event handler and the lazy fallback provisioning
the same user at the same moment, in two replicas sharing one database, never answer 500 and
leave exactly one row per user."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable
from pathlib import Path

import httpx
from fastapi import FastAPI
from sqlalchemy import func, select

from common.db import make_engine
from common.settings import Mode, Settings
from consumers import store
from consumers.app import create_app, service_spec
from consumers.discovery.base import Context, KnownCache, Stats
from consumers.discovery.hybrid import HybridDiscovery
from consumers.notifications import messages
from consumers.service import ConsumerService
from events import names
from events.model import user_event
from tests.unit.fakes import Keys, in_process_settings

USERS = 40
CALLS_PER_REPLICA = 3
KEYS = Keys()


def _replica(settings: Settings, db_url: str, name: str) -> tuple[FastAPI, HybridDiscovery]:
    """A notifications replica in hybrid mode with its own engine, without its stream reader:
    the test hands it events itself, at the moment it chooses."""
    spec = service_spec("notifications")
    engine = make_engine(db_url)
    store.create_schema(engine, spec)
    verifier = KEYS.verifier()
    ctx = Context(settings, spec, engine, name, Stats(), KnownCache(1.0), verifier.key)
    discovery = HybridDiscovery(ctx)
    app = create_app(settings, "notifications", name)
    app.state.service = ConsumerService(ctx, verifier, discovery)
    return app, discovery


async def _later(delivery: Awaitable[None], user_id: int) -> None:
    """Hand the event over after 0 to 30 ms, so that either path may come first."""
    await asyncio.sleep((user_id % 4) * 0.01)
    await delivery


async def _whoami(app: FastAPI, user_id: int) -> httpx.Response:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://notifications") as c:
        return await c.get("/whoami", headers={"Authorization": f"Bearer {KEYS.token(user_id)}"})


def test_event_and_lazy_fallback_race_for_one_user(tmp_path: Path, db_url: str) -> None:
    settings = in_process_settings(tmp_path, Mode.HYBRID)
    replicas = [_replica(settings, db_url, name) for name in ("notifications", "notifications-2")]

    async def race(user_id: int) -> list[httpx.Response]:
        event = user_event(names.USER_REGISTERED, user_id, f"racer{user_id}")
        calls = [_whoami(app, user_id) for app, _ in replicas for _ in range(CALLS_PER_REPLICA)]
        # The event reaches both replicas while the user's first calls arrive at both, a little
        # before or after them depending on the user: every path provisions the same user.
        deliveries = [_later(discovery.on_event(event), user_id) for _, discovery in replicas]
        answers = await asyncio.gather(*calls, *deliveries)
        return [a for a in answers if isinstance(a, httpx.Response)]

    async def scenario() -> list[httpx.Response]:
        # One user at a time, so the delays below decide who comes first rather than a queue.
        return [r for uid in range(1, USERS + 1) for r in await race(uid)]

    answers = asyncio.run(scenario())
    statuses = Counter(r.status_code for r in answers)
    assert statuses == {200: USERS * 2 * CALLS_PER_REPLICA}, statuses
    # Exactly one first call per user, whichever path and replica got there first.
    firsts = Counter(r.json()["user_id"] for r in answers if r.json()["first_call"])
    assert firsts == dict.fromkeys(range(1, USERS + 1), 1)
    engine = replicas[0][1].ctx.engine
    with engine.connect() as conn:
        per_user = conn.execute(
            select(messages.c.user_id, func.count()).group_by(messages.c.user_id)
        ).all()
    assert dict(per_user) == dict.fromkeys(range(1, USERS + 1), 1)  # one welcome each
    assert store.count_known(engine) == USERS
    stats = [discovery.ctx.stats for _, discovery in replicas]
    created = sum(s.event_provisions + s.lazy_provisions for s in stats)
    assert created == USERS  # and every other attempt was counted as a duplicate
    for _, discovery in replicas:
        discovery.ctx.engine.dispose()
