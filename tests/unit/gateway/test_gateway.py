"""The gateway in-process: routing table, refusals, and upstream failures as JSON errors."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from common.net import free_port
from common.settings import Settings
from gateway.app import create_app, upstreams

pytestmark = pytest.mark.anyio


@pytest.fixture
def settings() -> Settings:
    # Ports nothing listens on: every upstream refuses the connection.
    return Settings(
        lab_auth_port=free_port(),
        lab_profiles_port=free_port(),
        lab_notifications_port=free_port(),
        lab_replicas=2,
    )


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):  # opens the upstream session
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as c:
            yield c


def test_replicas_are_spaced_by_ten_ports(settings: Settings) -> None:
    routes = upstreams(settings)
    assert sorted(routes) == ["auth", "notifications", "profiles"]
    base = settings.lab_profiles_port
    assert routes["profiles"] == [f"http://127.0.0.1:{base}", f"http://127.0.0.1:{base + 10}"]
    assert routes["auth"] == [settings.auth_url]
    two = upstreams(settings.model_copy(update={"lab_auth_replicas": 2}))["auth"]
    auth = settings.lab_auth_port
    assert two == [f"http://127.0.0.1:{auth}", f"http://127.0.0.1:{auth + 10}"]


async def test_unknown_service_is_404(client: httpx.AsyncClient) -> None:
    r = await client.get("/billing/whoami")
    assert r.status_code == 404
    assert r.json()["error"] == "unknown_service"


@pytest.mark.parametrize("path", ["/profiles/internal/status", "/auth/internal", "/auth/internal/"])
async def test_internal_paths_are_not_served(client: httpx.AsyncClient, path: str) -> None:
    r = await client.get(path, headers={"X-Internal-Token": "anything"})
    assert r.status_code == 404
    assert r.json() == {
        "success": False,
        "error": "not_found",
        "detail": "internal endpoints are not served by the gateway",
    }


async def test_oversized_body_is_413_before_any_upstream(client: httpx.AsyncClient) -> None:
    r = await client.post("/auth/register", content=b"x" * (64 * 1024 + 1))
    assert r.status_code == 413
    assert r.json()["error"] == "payload_too_large"


async def test_unreachable_replicas_give_json_502(client: httpx.AsyncClient) -> None:
    r = await client.get("/profiles/whoami", headers={"Authorization": "Bearer x"})
    assert r.status_code == 502
    body = r.json()
    assert (body["success"], body["error"]) == (False, "upstream_unavailable")
    assert "profiles" in body["detail"]


async def test_health_answers_without_upstreams(client: httpx.AsyncClient) -> None:
    assert (await client.get("/health")).json() == {"status": "ok", "service": "gateway"}
