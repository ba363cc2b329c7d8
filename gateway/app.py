"""The gateway's app factory: a small reverse proxy that imports no service."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import aiohttp
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

from common.settings import CONSUMER_SERVICES, Settings
from common.web import MAX_BODY_BYTES, install_common
from gateway.openapi import document

FORWARD_REQUEST = frozenset({"authorization", "content-type", "accept", "user-agent"})
FORWARD_RESPONSE = frozenset(
    {"content-type", "www-authenticate", "cache-control", "allow", "retry-after", "server-timing"}
)
UPSTREAM_TIMEOUT = aiohttp.ClientTimeout(total=10.0, sock_connect=1.0)


def upstreams(settings: Settings) -> dict[str, list[str]]:
    """Service name -> base URLs of its replicas."""
    return {"auth": settings.auth_urls} | {
        service: settings.consumer_urls(service) for service in CONSUMER_SERVICES
    }


def _error(status: int, error: str, detail: str) -> JSONResponse:
    return JSONResponse({"success": False, "error": error, "detail": detail}, status_code=status)


def create_app(settings: Settings) -> FastAPI:
    """Build the gateway; the upstream HTTP session lives in the lifespan."""
    routes = upstreams(settings)
    internal_token = settings.internal_token()
    rotation: dict[str, Iterator[int]] = {
        name: itertools.cycle(range(len(urls))) for name, urls in routes.items()
    }

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        connector = aiohttp.TCPConnector(limit=200, limit_per_host=100, keepalive_timeout=30)
        async with aiohttp.ClientSession(
            connector=connector,
            timeout=UPSTREAM_TIMEOUT,
            auto_decompress=False,
            skip_auto_headers=("User-Agent", "Accept-Encoding"),
        ) as session:
            app.state.session = session
            yield

    app = FastAPI(title="discovery-lab gateway", lifespan=lifespan)
    install_common(app, "gateway")
    spec = document(CONSUMER_SERVICES)
    app.openapi = lambda: spec  # type: ignore[method-assign]  # the catch-all route says too little

    @app.api_route(
        "/{service}/{path:path}",
        include_in_schema=False,
        methods=["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"],
    )
    async def forward(service: str, path: str, request: Request) -> Response:
        urls = routes.get(service)
        if urls is None:
            return _error(404, "unknown_service", f"no service named {service!r}")
        if path == "internal" or path.startswith("internal/"):
            return _error(404, "not_found", "internal endpoints are not served by the gateway")
        body = await request.body()
        if len(body) > MAX_BODY_BYTES:
            return _error(413, "payload_too_large", "request body over 64 KiB")
        headers = {
            k.decode("latin-1"): v.decode("latin-1")
            for k, v in request.headers.raw
            if k.decode("latin-1").lower() in FORWARD_REQUEST
        }
        if service == "auth":  # login throttling counts per client address, which auth trusts
            headers["X-Forwarded-For"] = request.client.host if request.client else "unknown"
            headers["X-Internal-Token"] = internal_token  # proves the header comes from here
        session: aiohttp.ClientSession = request.app.state.session
        start = next(rotation[service])
        last_error = ""
        for attempt in range(len(urls)):
            base = urls[(start + attempt) % len(urls)]
            try:
                async with session.request(
                    request.method,
                    f"{base}/{path}",
                    params=list(request.query_params.multi_items()),
                    data=body or None,
                    headers=headers,
                    allow_redirects=False,
                ) as upstream:
                    content = await upstream.read()
                    out = {
                        k: v for k, v in upstream.headers.items() if k.lower() in FORWARD_RESPONSE
                    }
                    return Response(content, status_code=upstream.status, headers=out)
            except TimeoutError:
                return _error(504, "upstream_timeout", f"{service} did not answer in time")
            except aiohttp.ClientConnectorError as exc:  # nothing was sent: try another replica
                last_error = exc.__class__.__name__
                continue
            except aiohttp.ClientError as exc:
                return _error(502, "upstream_failed", f"{service}: {exc.__class__.__name__}")
        return _error(502, "upstream_unavailable", f"{service} is unreachable ({last_error})")

    return app
