"""The gateway's app factory: a small reverse proxy that imports no service."""

from __future__ import annotations

import itertools
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import aiohttp
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send
from yarl import URL

from common import tracing
from common.forwarded import PROOF_HEADER, client_from_chain, sign_proof
from common.logs import REQUEST_ID_HEADER, request_id
from common.paths import first_segment, split_first, target
from common.settings import CONSUMER_SERVICES, Settings
from common.web import MAX_BODY_BYTES, install_common, non_canonical, raw_target
from gateway.openapi import document

FORWARD_REQUEST = frozenset({"authorization", "content-type", "accept", "user-agent"})
FORWARD_RESPONSE = frozenset(
    {"content-type", "www-authenticate", "cache-control", "allow", "retry-after", "server-timing"}
)
UPSTREAM_TIMEOUT = aiohttp.ClientTimeout(total=10.0, sock_connect=1.0)
# Operator surfaces, served on each service's own port only: /internal/* needs the internal
# token, and /metrics shows the same counters as /internal/status.
OPERATOR_ONLY = frozenset({b"internal", b"metrics"})


def upstreams(settings: Settings) -> dict[str, list[str]]:
    """Service name -> base URLs of its replicas."""
    return {"auth": settings.auth_urls} | {
        service: settings.consumer_urls(service) for service in CONSUMER_SERVICES
    }


def _error(status: int, error: str, detail: str) -> JSONResponse:
    return JSONResponse({"success": False, "error": error, "detail": detail}, status_code=status)


class CanonicalTargets:
    """Refuse a request whose raw target is not in canonical form (400) before any routing, so
    every route, and every upstream, reads one spelling of the path."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        refusal = non_canonical(scope) if scope["type"] == "http" else None
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        await self.app(scope, receive, send)


def create_app(settings: Settings) -> FastAPI:
    """Build the gateway; the upstream HTTP session lives in the lifespan."""
    routes = upstreams(settings)
    proxy_key = settings.gateway_proxy_key()
    trusted = settings.trusted_proxies
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
    app.add_middleware(CanonicalTargets)
    spec = document(CONSUMER_SERVICES)
    app.openapi = lambda: spec  # type: ignore[method-assign]  # the catch-all route says too little

    @app.api_route(
        "/{service}/{path:path}",
        include_in_schema=False,
        methods=["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"],
    )
    async def forward(request: Request) -> Response:
        # Decided on the raw target, which is forwarded byte for byte: the upstream reads what
        # was checked here (the decoded path parameters are never used).
        raw_path, query = raw_target(request.scope)
        name, rest = split_first(raw_path)
        service = name.decode("ascii")
        urls = routes.get(service)
        if urls is None:
            return _error(404, "unknown_service", f"no service named {service!r}")
        if first_segment(rest) in OPERATOR_ONLY:
            return _error(404, "not_found", "operator endpoints are not served by the gateway")
        body = await request.body()
        if len(body) > MAX_BODY_BYTES:
            return _error(413, "payload_too_large", "request body over 64 KiB")
        upstream_target = target(rest or b"/", query)
        headers = {
            k.decode("latin-1"): v.decode("latin-1")
            for k, v in request.headers.raw
            if k.decode("latin-1").lower() in FORWARD_REQUEST
        }
        if rid := request_id():  # the one the client sent if well formed, else a new one
            headers[REQUEST_ID_HEADER] = rid
        tracing.inject(headers)  # W3C Trace Context: the upstream's span is a child of this one
        if service == "auth":  # login throttling counts per client address, proven to auth
            address = client_from_chain(
                request.client.host if request.client else "unknown",
                request.headers.getlist("x-forwarded-for"),
                trusted,
            )
            headers["X-Forwarded-For"] = address
            headers[PROOF_HEADER] = sign_proof(
                proxy_key,
                address=address,
                method=request.method,
                target=upstream_target,
                body=body,
                now=time.time(),
            )
        session: aiohttp.ClientSession = request.app.state.session
        start = next(rotation[service])
        last_error = ""
        for attempt in range(len(urls)):
            base = urls[(start + attempt) % len(urls)]
            try:
                async with session.request(
                    request.method,
                    # encoded=True: sent as it stands, never normalised again
                    URL(base + upstream_target.decode("ascii"), encoded=True),
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
