"""The gateway in-process: routing table, refusals, upstream failures as JSON errors, and a
successful forward to a real upstream server on a free port."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi import FastAPI, Request, Response

from common.forwarded import check_proof
from common.settings import Settings
from gateway.app import create_app, upstreams
from lab.net import free_port
from tests.support import await_for

pytestmark = pytest.mark.anyio


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    # Ports nothing listens on: every upstream refuses the connection.
    return Settings(
        lab_state_dir=tmp_path,
        lab_auth_port=free_port(),
        lab_profiles_port=free_port(),
        lab_notifications_port=free_port(),
        lab_replicas=2,
    )


@asynccontextmanager
async def _gateway(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):  # opens the upstream session
        transport = httpx.ASGITransport(app=app, client=("203.0.113.5", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as c:
            yield c


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with _gateway(settings) as c:
        yield c


def _echo() -> FastAPI:
    """An upstream that answers with what it received, and headers the gateway must filter."""
    app = FastAPI()

    @app.api_route("/{path:path}", methods=["GET", "POST"])
    async def echo(path: str, request: Request) -> Response:
        seen = {
            "method": request.method,
            "path": path,
            "query": sorted(request.query_params.multi_items()),
            "headers": {k: v for k, v in request.headers.items() if k.startswith("x-")},
            "authorization": request.headers.get("authorization"),
            "body": (await request.body()).decode(),
        }
        headers = {"Retry-After": "7", "X-Upstream-Secret": "not for clients"}
        return Response(
            json.dumps(seen), status_code=202, media_type="application/json", headers=headers
        )

    return app


@pytest.fixture
async def upstream() -> AsyncIterator[str]:
    """The echo app under a real uvicorn server on a free port (the gateway speaks aiohttp)."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(_echo(), host="127.0.0.1", port=port, log_level="error"))
    task = asyncio.create_task(server.serve())
    await await_for(lambda: _started(server), timeout=10)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    await task


async def _started(server: uvicorn.Server) -> bool:
    return server.started


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


@pytest.mark.parametrize(
    "path",
    [
        "/profiles/internal/status",
        "/auth/internal",
        "/auth/internal/",
        "/auth/INTERNAL/mode",
        "/notifications/Internal;x/status",
        "/profiles/metrics",
        "/auth/Metrics",
    ],
)
async def test_operator_paths_are_not_served(client: httpx.AsyncClient, path: str) -> None:
    r = await client.get(path, headers={"X-Internal-Token": "anything"})
    assert r.status_code == 404
    assert r.json() == {
        "success": False,
        "error": "not_found",
        "detail": "operator endpoints are not served by the gateway",
    }


@pytest.mark.parametrize(
    "path",
    ["/auth/%69nternal/status", "/auth/x/%2e%2e/internal", "/auth//internal", "/auth/%2finternal"],
)
async def test_non_canonical_paths_are_400(client: httpx.AsyncClient, path: str) -> None:
    r = await client.get(path)
    assert r.status_code == 400
    assert r.json()["error"] == "non_canonical_path" and r.json()["detail"]


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


async def test_a_forward_carries_the_request_and_filters_headers(
    upstream: str, tmp_path: Path
) -> None:
    settings = Settings(
        lab_state_dir=tmp_path,
        lab_auth_url=upstream,
        lab_profiles_url=upstream,
        lab_internal_token="internal-secret",
    )
    async with _gateway(settings) as client:
        r = await client.post(
            "/auth/login?a=1&a=2",
            content=b'{"username": "alice"}',
            headers={
                "Authorization": "Bearer t",
                "Content-Type": "application/json",
                "X-Forwarded-For": "192.0.2.66",  # a client's claim, replaced by the gateway
                "X-Lab-Forwarded-Proof": "v1.1.forged",  # and its proof, dropped
                "X-Internal-Token": "internal-secret",  # never passed on
                "X-Other": "dropped",
            },
        )
        assert r.status_code == 202
        assert r.headers["retry-after"] == "7"
        assert "x-upstream-secret" not in r.headers
        seen = r.json()
        assert seen["method"] == "POST" and seen["path"] == "login"
        assert seen["query"] == [["a", "1"], ["a", "2"]]
        assert seen["body"] == '{"username": "alice"}'
        assert seen["authorization"] == "Bearer t"
        proof = seen["headers"].pop("x-lab-forwarded-proof")
        assert seen["headers"] == {"x-forwarded-for": "203.0.113.5"}
        # The proof covers what auth received: the address, method, raw target and body.
        assert check_proof(
            settings.gateway_proxy_key(),
            proof,
            address="203.0.113.5",
            method="POST",
            target=b"/login?a=1&a=2",
            body=b'{"username": "alice"}',
            now=time.time(),
        )
        # Only auth gets the client address and its proof.
        other = (await client.get("/profiles/whoami", headers={"Authorization": "Bearer t"})).json()
        assert (other["path"], other["headers"]) == ("whoami", {})


def test_the_gateway_never_reads_the_internal_token(tmp_path: Path) -> None:
    create_app(Settings(lab_state_dir=tmp_path))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gateway-proxy-key"]


async def test_health_answers_without_upstreams(client: httpx.AsyncClient) -> None:
    assert (await client.get("/health")).json() == {"status": "ok", "service": "gateway"}
