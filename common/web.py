"""Web plumbing shared by every service: body limit, internal auth, errors, metrics."""

from __future__ import annotations

import hmac
import logging
import re
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

from fastapi import FastAPI, Header, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from pydantic import BaseModel, ConfigDict
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from common import tracing
from common.db import STORAGE_DOWN
from common.forwarded import PROOF_HEADER, ForwardedTrust
from common.paths import NonCanonical, check_target, target
from common.settings import Mode, Publish, Settings
from common.timing import ServerTiming
from common.tokens import Claims, TokenError, Verifier

MAX_BODY_BYTES = 64 * 1024
log = logging.getLogger("discovery_lab")


class ErrorBody(BaseModel):
    """The one error shape: `{"success": false, "error": <code>, "detail"?}`, plus context."""

    model_config = ConfigDict(extra="allow")

    success: bool = False
    error: str
    detail: Any = None


ERROR_MEANINGS: dict[int, str] = {
    401: "missing, invalid or expired credentials",
    403: "the caller is known here as deactivated, or not known in this mode",
    404: "no such service or path",
    409: "the name is taken",
    413: "request body over 64 KiB",
    422: "invalid input, with the reason",
    429: "too many attempts; see Retry-After",
    503: "a dependency (database, hashing capacity) is unavailable; see Retry-After",
}


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` entries for the error answers a route can give, in the one shape."""
    return {code: {"model": ErrorBody, "description": ERROR_MEANINGS[code]} for code in codes}


class ModeBody(BaseModel):
    """The body of PUT /internal/mode."""

    model_config = ConfigDict(extra="forbid")

    mode: Mode
    publish: Publish | None = None


ErrorMap = Mapping[type[Exception], tuple[int, str]]


def install_error_map(app: FastAPI, errors: ErrorMap) -> None:
    """Answer each domain exception a service raises with its status and error code, in the one
    error shape; the exception's `context` mapping, if it has one, joins the body, and its
    `headers` mapping, if it has one, goes with the answer."""

    async def answer(_: Request, exc: Exception) -> JSONResponse:
        status, code = next(errors[t] for t in type(exc).__mro__ if t in errors)
        body = {"success": False, "error": code, **getattr(exc, "context", {})}
        return JSONResponse(body, status_code=status, headers=getattr(exc, "headers", None))

    for exc_type in errors:
        app.add_exception_handler(exc_type, answer)


class BodySizeLimit:
    """Refuse request bodies over a limit with 413, by header or while streaming."""

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    too_big = int(value) > self.limit
                except ValueError:
                    too_big = True
                if too_big:
                    await _too_large(send)
                    return
        seen = 0
        responded = False

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise _BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal responded
            if message["type"] == "http.response.start":
                responded = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _BodyTooLarge:
            if not responded:
                await _too_large(send)


class _BodyTooLarge(Exception):
    pass


async def _too_large(send: Send) -> None:
    body = b'{"success":false,"error":"payload_too_large"}'
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
# A Host header: a name or IPv4 address, or an IPv6 address in brackets, then an optional port.
_HOST_HEADER = re.compile(r"(?:\[([0-9A-Fa-f:.]+)\]|([^:\[\]@/\\\s]+))(?::[0-9]{0,5})?")


def host_name(header: str) -> str | None:
    """The host a Host header names, lowercased, without port, brackets or a final dot; None
    when the header is not a host at all."""
    match = _HOST_HEADER.fullmatch(header)
    if match is None:
        return None
    name = (match.group(1) or match.group(2)).lower().removesuffix(".")
    return name or None


def served_hosts(settings: Settings, reached_at: Iterable[str] = ()) -> frozenset[str]:
    """The host names an admin surface answers for: loopback, the bind host, LAB_HOST, the hosts
    of the URLs other processes reach it by (a compose service name), and LAB_ALLOWED_HOSTS."""
    extra = [h.strip() for h in settings.lab_allowed_hosts.split(",") if h.strip()]
    urls = [urlsplit(url).netloc.rpartition("@")[2] for url in reached_at]
    names = [*LOOPBACK_HOSTS, settings.lab_bind_host, settings.lab_host, *urls, *extra]
    # a bare IPv6 address (::1, a bind host of ::) is written in brackets in a Host header
    bracketed = (f"[{n}]" if n.count(":") > 1 and not n.startswith("[") else n for n in names)
    return frozenset(filter(None, (host_name(name) for name in bracketed)))


class HostCheck:
    """Refuse, with 421, a request whose Host header names a host this process does not serve:
    a page on another origin that resolves its own name to 127.0.0.1 (DNS rebinding) reaches
    the socket, but its browser sends that name. Every path, or those under `prefix` only."""

    def __init__(self, app: ASGIApp, hosts: frozenset[str], prefix: str = "") -> None:
        self.app = app
        self.hosts = hosts
        self.prefix = prefix.rstrip("/")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self._guarded(scope["path"]):
            given = [v.decode("latin-1") for k, v in scope["headers"] if k == b"host"]
            if len(given) != 1 or host_name(given[0]) not in self.hosts:
                await JSONResponse(
                    {"success": False, "error": "unknown_host", "detail": "not a host served here"},
                    status_code=421,
                )(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def _guarded(self, path: str) -> bool:
        return not self.prefix or path == self.prefix or path.startswith(self.prefix + "/")


def install_host_check(
    app: FastAPI, settings: Settings, reached_at: Iterable[str] = (), prefix: str = ""
) -> None:
    """Answer, under prefix or everywhere, only for the hosts served (HostCheck); call it after
    the other middleware, so that it runs first."""
    app.add_middleware(HostCheck, hosts=served_hosts(settings, reached_at), prefix=prefix)


def install_common(app: FastAPI, service: str) -> None:
    """Body limit, JSON errors for invalid input and unexpected failures, /health, and a server
    span per request when tracing is on."""
    app.add_middleware(BodySizeLimit)
    app.add_middleware(ServerTiming, total=service)
    tracing.install(app)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"loc": list(e.get("loc", ())), "msg": str(e.get("msg", ""))} for e in exc.errors()
        ]
        return JSONResponse(
            {"success": False, "error": "invalid_request", "detail": errors[:10]},
            status_code=422,
        )

    @app.exception_handler(_BodyTooLarge)
    async def _big(_: Request, __: Exception) -> JSONResponse:
        return JSONResponse({"success": False, "error": "payload_too_large"}, status_code=413)

    async def _storage(_: Request, exc: Exception) -> JSONResponse:
        log.error("%s: database unavailable: %s", service, exc.__class__.__name__)
        return JSONResponse(
            {"success": False, "error": "storage_unavailable"},
            status_code=503,
            headers={"Retry-After": "1"},
        )

    for error in STORAGE_DOWN:
        app.add_exception_handler(error, _storage)

    @app.get("/health", include_in_schema=False)
    async def health() -> dict[str, str]:
        return {"status": "ok", "service": service}


def internal_guard(expected: Callable[[], str]) -> Callable[..., Any]:
    """A dependency that requires X-Internal-Token to equal the configured secret."""

    async def guard(x_internal_token: str | None = Header(default=None)) -> None:
        if not internal_token_ok(x_internal_token, expected()):
            raise HTTPException(status_code=401, detail="internal token required")

    return guard


def internal_token_ok(given: str | None, expected: str) -> bool:
    """True if a request carries the internal token (compared in constant time)."""
    return bool(given) and hmac.compare_digest((given or "").encode(), expected.encode())


def raw_target(scope: Scope) -> tuple[bytes, bytes]:
    """The path and query exactly as the client sent them, never the decoded path."""
    raw = scope.get("raw_path") or scope["path"].encode()
    return raw.partition(b"?")[0], scope.get("query_string", b"")


def non_canonical(scope: Scope) -> JSONResponse | None:
    """A 400 naming why the request target is not in canonical form, or None if it is."""
    try:
        check_target(*raw_target(scope))
    except NonCanonical as exc:
        body = {"success": False, "error": "non_canonical_path", "detail": str(exc)}
        return JSONResponse(body, status_code=400)
    return None


async def client_address(request: Request, trust: ForwardedTrust) -> str:
    """The caller's address: X-Forwarded-For when the gateway's proof holds for exactly this
    request, once, or when the peer is a trusted proxy; else the peer (never a header anyone
    can set)."""
    path, query = raw_target(request.scope)
    return trust.address(
        peer=request.client.host if request.client else "unknown",
        forwarded=request.headers.getlist("x-forwarded-for"),
        proof=request.headers.get(PROOF_HEADER),
        method=request.method,
        target=target(path, query),
        body=await request.body(),
        now=time.time(),
    )


# Status fields that only go up while a process lives: Prometheus counters (`<name>_total`).
# Every other number is a gauge (known_users, outbox_pending, stream_lag, last_propagation_ms).
COUNTERS = frozenset(
    {
        "registrations",
        "event_provisions",
        "lazy_provisions",
        "duplicates_ignored",
        "unknown_user_refusals",
        "events_received",
        "events_published",
        "events_lost",
        "invalid_events",
        "events_refused",
        "deactivations",
        "attribute_updates",
        "stale_updates",
        "unknown_updates",
        "calls_served",
        "token_cache_hits",
        "jwks_refreshes",
        "outbox_resent",
        "reconnects",
        "dead_lettered",
    }
)


class _StatusCollector(Collector):
    def __init__(self, service: str, status: Mapping[str, Any]) -> None:
        self.service = service
        self.status = status

    def collect(self) -> Any:
        for key, value in self.status.items():
            if isinstance(value, bool) or not isinstance(value, int | float):
                continue
            kind = CounterMetricFamily if key in COUNTERS else GaugeMetricFamily
            family = kind(f"lab_{key}", f"{key} (see /internal/status)", labels=["service"])
            family.add_metric([self.service], float(value))
            yield family


def metrics_response(service: str, status: Mapping[str, Any]) -> Response:
    """Render a status snapshot as Prometheus text: counters as counters, the rest as gauges."""
    registry = CollectorRegistry()
    registry.register(_StatusCollector(service, status))
    return Response(generate_latest(registry), media_type="text/plain; version=0.0.4")


def unauthorized(reason: str) -> HTTPException:
    """A 401 with a Bearer challenge and a short reason."""
    return HTTPException(
        status_code=401,
        detail={"success": False, "error": "invalid_token", "reason": reason},
        headers={"WWW-Authenticate": f'Bearer error="invalid_token", error_description="{reason}"'},
    )


async def bearer_token(authorization: str | None = Header(default=None)) -> str:
    """The token from an `Authorization: Bearer ...` header, or 401."""
    if not authorization:
        raise unauthorized("missing_token")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise unauthorized("malformed_authorization")
    return token.strip()


async def verified_claims(verifier: Verifier, token: str) -> Claims:
    """The token's verified claims, or a 401 that names the reason."""
    try:
        return await verifier.verify(token)
    except TokenError as exc:
        raise unauthorized(exc.reason) from exc


def install_http_errors(app: FastAPI) -> None:
    """Render HTTPException details that are dicts as the JSON body itself."""
    from starlette.exceptions import HTTPException as StarletteHTTPException

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400:  # FastAPI's answer to a body it cannot parse at all
            return JSONResponse(
                {"success": False, "error": "invalid_request", "detail": "unreadable body"},
                status_code=422,
            )
        body = (
            exc.detail
            if isinstance(exc.detail, dict)
            else {"success": False, "error": str(exc.detail)}
        )
        headers = dict(exc.headers or {})
        if exc.status_code == 405:  # Starlette names only the first route on the path
            headers["Allow"] = ", ".join(sorted(_allowed_methods(request)))
        return JSONResponse(body, status_code=exc.status_code, headers=headers)


def _allowed_methods(request: Request) -> set[str]:
    from starlette.routing import Match, Route

    methods: set[str] = set()
    for route in request.app.router.routes:
        if isinstance(route, Route) and route.methods:
            match, _ = route.matches(request.scope)
            if match is not Match.NONE:
                methods |= route.methods
    return methods
