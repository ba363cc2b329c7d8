"""Consumer routes in-process: whoami and the internal API over a fake Discovery."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from common.db import make_engine
from common.settings import Mode
from common.tokens import Claims
from consumers import store
from consumers.app import create_app, service_spec
from consumers.discovery.base import Context, KnownCache, Resolution, Stats
from consumers.discovery.lazy import LazyDiscovery
from consumers.service import ConsumerService
from tests.unit.fakes import INTERNAL, FakeDiscovery, Keys, in_process_settings

pytestmark = pytest.mark.anyio

KEYS = Keys()


@pytest.fixture
def discovery() -> FakeDiscovery:
    return FakeDiscovery(known={1, 2}, deactivated={3})


@pytest.fixture
def app(tmp_path: Path, discovery: FakeDiscovery) -> FastAPI:
    settings = in_process_settings(tmp_path, Mode.STREAMS)
    spec = service_spec("profiles")
    engine = make_engine(f"sqlite:///{tmp_path / 'profiles.sqlite3'}")
    store.create_schema(engine, spec)
    verifier = KEYS.verifier()
    ctx = Context(settings, spec, engine, "profiles", Stats(), KnownCache(0), verifier.key)
    application = create_app(settings, "profiles")
    application.state.service = ConsumerService(ctx, verifier, discovery)
    return application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as c:
        yield c


def bearer(user_id: int) -> dict[str, str]:
    return {"Authorization": f"Bearer {KEYS.token(user_id)}"}


async def test_whoami_answers_for_a_known_user(client: httpx.AsyncClient) -> None:
    r = await client.get("/whoami", headers=bearer(1))
    assert r.status_code == 200
    assert r.json() == {
        "service": "profiles",
        "user_id": 1,
        "discovered_by": "event",
        "known_since": "2026-01-02T03:04:05+00:00",
        "first_call": False,
        "attributes": {},
        "attributes_version": 0,
        "attributes_seen_at": None,
    }


async def test_unknown_user_is_refused_with_403(
    client: httpx.AsyncClient, discovery: FakeDiscovery
) -> None:
    r = await client.get("/whoami", headers=bearer(7))
    assert r.status_code == 403
    assert r.json()["error"] == "unknown_user"
    assert discovery.calls == [7]


async def test_deactivated_user_is_refused_with_403(client: httpx.AsyncClient) -> None:
    for path in ("/whoami", "/me"):
        r = await client.get(path, headers=bearer(3))
        assert r.status_code == 403, path
        assert r.json()["error"] == "user_deactivated"


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({}, "missing_token"),
        ({"Authorization": "Basic abc"}, "malformed_authorization"),
        ({"Authorization": "Bearer not-a-jwt"}, None),
    ],
)
async def test_bad_tokens_get_401_with_a_challenge(
    client: httpx.AsyncClient, discovery: FakeDiscovery, headers: dict[str, str], reason: str | None
) -> None:
    r = await client.get("/whoami", headers=headers)
    assert r.status_code == 401
    assert r.json()["success"] is False
    assert r.json()["error"] == "invalid_token"
    assert r.headers["www-authenticate"].startswith("Bearer")
    if reason:
        assert r.json()["reason"] == reason
    assert discovery.calls == []


async def test_expired_token_gets_401(client: httpx.AsyncClient) -> None:
    r = await client.get("/whoami", headers={"Authorization": f"Bearer {KEYS.token(1, ttl=-60)}"})
    assert r.status_code == 401


async def test_verify_skips_discovery(client: httpx.AsyncClient, discovery: FakeDiscovery) -> None:
    r = await client.get("/verify", headers=bearer(42))
    assert r.json() == {"service": "profiles", "user_id": 42}
    assert discovery.calls == []


async def test_me_returns_the_service_record(client: httpx.AsyncClient) -> None:
    r = await client.get("/me", headers=bearer(1))
    assert r.status_code == 200
    assert r.json() == {"service": "profiles", "user_id": 1, "record": None}


async def test_internal_endpoints_need_the_internal_token(client: httpx.AsyncClient) -> None:
    for token in (None, "wrong"):
        headers = {"X-Internal-Token": token} if token else {}
        r = await client.get("/internal/status", headers=headers)
        assert r.status_code == 401
        assert r.json()["success"] is False


async def test_status_reports_the_discovery_state(client: httpx.AsyncClient) -> None:
    r = await client.get("/internal/status", headers={"X-Internal-Token": INTERNAL})
    assert r.status_code == 200
    body = r.json()
    assert body["mode"] == "streams"
    assert body["subscriber"] == "connected"
    assert body["stream_lag"] == 0
    assert body["known_users"] == 0


async def test_mode_switch_replaces_the_discovery(
    client: httpx.AsyncClient, app: FastAPI, discovery: FakeDiscovery
) -> None:
    headers = {"X-Internal-Token": INTERNAL}
    r = await client.put("/internal/mode", json={"mode": "lazy"}, headers=headers)
    assert r.status_code == 200
    assert r.json()["mode"] == "lazy"
    assert r.json()["subscriber"] == "off"
    assert discovery.stopped
    assert isinstance(app.state.service.discovery, LazyDiscovery)


@pytest.mark.parametrize(
    "body", [{"mode": "gossip"}, {"mode": "lazy", "extra": 1}, {}, {"mode": 3}]
)
async def test_bad_mode_bodies_get_422(
    client: httpx.AsyncClient, discovery: FakeDiscovery, body: dict[str, object]
) -> None:
    r = await client.put("/internal/mode", json=body, headers={"X-Internal-Token": INTERNAL})
    assert r.status_code == 422
    assert r.json()["success"] is False
    assert not discovery.stopped


async def test_known_users_lists_the_store(client: httpx.AsyncClient, app: FastAPI) -> None:
    ctx = app.state.service.ctx
    store.provision(ctx.engine, ctx.spec, 5, "eve", "event")
    r = await client.get("/internal/known-users", headers={"X-Internal-Token": INTERNAL})
    users = r.json()["users"]
    assert [(u["user_id"], u["discovered_by"], u["active"]) for u in users] == [(5, "event", True)]


@pytest.mark.parametrize(
    "error",
    [
        OperationalError("SELECT 1", {}, Exception("database is locked")),
        PoolTimeout("QueuePool limit of size 8 overflow 16 reached"),
    ],
)
async def test_a_database_that_cannot_serve_now_is_503_not_500(
    client: httpx.AsyncClient,
    discovery: FakeDiscovery,
    monkeypatch: pytest.MonkeyPatch,
    error: Exception,
) -> None:
    async def unavailable(claims: Claims) -> Resolution:
        raise error

    monkeypatch.setattr(discovery, "resolve", unavailable)
    r = await client.get("/whoami", headers=bearer(1))
    assert r.status_code == 503
    assert r.json() == {"success": False, "error": "storage_unavailable"}
    assert r.headers["Retry-After"] == "1"


async def test_metrics_pass_a_prometheus_parser_with_counters_as_counters(
    client: httpx.AsyncClient,
) -> None:
    await client.get("/whoami", headers=bearer(1))
    r = await client.get("/metrics")
    assert r.status_code == 200
    families = {f.name: f for f in text_string_to_metric_families(r.text)}
    assert families["lab_calls_served"].type == "counter"
    (sample,) = families["lab_calls_served"].samples
    assert sample.name == "lab_calls_served_total" and sample.labels == {"service": "profiles"}
    assert sample.value >= 1
    for name in ("lab_events_received", "lab_event_provisions", "lab_unknown_user_refusals"):
        assert families[name].type == "counter", name
    assert families["lab_known_users"].type == "gauge"
    assert families["lab_known_users"].samples[0].name == "lab_known_users"
