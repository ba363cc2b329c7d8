"""The dashboard's app factory: the live page, its control API and a pass-through to the gateway."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

import httpx
from fastapi import APIRouter, Depends, FastAPI, Query, Request, Response
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field

from common.paths import split_first, target
from common.settings import Settings
from common.web import (
    MAX_BODY_BYTES,
    ModeBody,
    install_common,
    install_host_check,
    install_http_errors,
    internal_guard,
    non_canonical,
    raw_target,
)
from dashboard import report
from dashboard.control import Control, ControlError, describe_error
from dashboard.snapshot import Snapshots
from lab.client import ClientError
from lab.processes import Stack, StackError

STATIC = Path(__file__).parent / "static"
FORWARD_REQUEST = ("authorization", "content-type")
FORWARD_RESPONSE = ("content-type", "server-timing", "www-authenticate")


class BurstBody(BaseModel):
    """POST /api/burst: how many users to register."""

    model_config = ConfigDict(extra="forbid")
    count: int = Field(default=20, ge=1, le=1000)


class DeactivateBody(BaseModel):
    """POST /api/deactivate: a user registered from this dashboard (the latest if omitted)."""

    model_config = ConfigDict(extra="forbid")
    username: str | None = Field(default=None, max_length=64)


def control_api(control: Control, snapshots: Snapshots) -> APIRouter:
    """The admin surface: every route needs X-Internal-Token."""
    settings = control.stack.settings
    api = APIRouter(prefix="/api", dependencies=[Depends(internal_guard(settings.internal_token))])

    @api.get("/state")
    async def state(
        page: Annotated[int, Query(ge=0)] = 0, size: Annotated[int, Query(ge=1, le=200)] = 50
    ) -> dict[str, Any]:
        """Processes, mode, counters and one page of the users × services grid."""
        return await asyncio.to_thread(snapshots.build, page, size)

    @api.put("/mode")
    async def mode(body: ModeBody) -> dict[str, Any]:
        """Switch mode and publishing live."""
        results = await asyncio.to_thread(control.set_mode, body.mode, body.publish)
        return {"success": True, "processes": results}

    @api.post("/processes/{name}/{action}")
    async def process(name: str, action: str) -> dict[str, Any]:
        """Stop or start one process (valkey, auth, a consumer, the gateway)."""
        if action == "stop":
            was = await asyncio.to_thread(control.stop, name)
            return {"success": True, "name": name, "was_running": was}
        if action == "start":
            pid = await asyncio.to_thread(control.start, name)
            return {"success": True, "name": name, "pid": pid}
        raise ControlError(f"unknown action {action!r}: stop or start")

    @api.post("/burst")
    async def burst(body: BurstBody) -> dict[str, Any]:
        """Register a burst of fresh users through the gateway."""
        return {"success": True, **await asyncio.to_thread(control.burst, body.count)}

    @api.post("/deactivate")
    async def deactivate(body: DeactivateBody) -> dict[str, Any]:
        """Deactivate a user registered from this dashboard."""
        username = body.username or control.last_user()
        if not username:
            raise ControlError("no user registered from this dashboard yet: register a burst")
        return {"success": True, **await asyncio.to_thread(control.deactivate, username)}

    return api


def create_app(settings: Settings) -> FastAPI:
    """Build the dashboard for the stack recorded in the state dir."""
    control = Control(Stack.load(settings.state_dir))
    snapshots = Snapshots(control)
    gateway_url = f"http://{settings.lab_host}:{settings.lab_gateway_port}"

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with httpx.AsyncClient(base_url=gateway_url, timeout=15.0) as http:
            app.state.http = http
            yield

    app = FastAPI(title="discovery-lab dashboard", lifespan=lifespan, docs_url=None)
    install_common(app, "dashboard")
    # Every page and route, read-only ones too: a page on another origin that resolves its
    # own name to 127.0.0.1 (DNS rebinding) must not read the dashboard.
    install_host_check(app, settings)
    install_http_errors(app)

    @app.exception_handler(ControlError)
    async def _refused(_: Request, exc: ControlError) -> JSONResponse:
        return JSONResponse(
            {"success": False, "error": "invalid_control", "detail": str(exc)}, status_code=422
        )

    @app.exception_handler(StackError)
    @app.exception_handler(ClientError)
    async def _failed(_: Request, exc: Exception) -> JSONResponse:
        return JSONResponse(
            {"success": False, "error": "control_failed", "detail": describe_error(exc)},
            status_code=409,
        )

    app.include_router(control_api(control, snapshots))
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    latest = settings.reports_dir / "latest"

    @app.get("/report/summary")
    async def report_summary() -> dict[str, Any]:
        """The latest benchmark report's verdict and charts, if one exists."""
        return await asyncio.to_thread(report.summary, latest)

    @app.get("/report/full", include_in_schema=False)
    async def report_full() -> Response:
        path = report.latest_html(latest)
        if path is None:
            return JSONResponse({"success": False, "error": "no_report"}, status_code=404)
        return FileResponse(path, media_type="text/html")

    @app.api_route("/gateway/{path:path}", methods=["GET", "POST", "PATCH", "DELETE"])
    async def through_gateway(request: Request) -> Response:
        """The page's user talks to the gateway through here (same origin, no CORS)."""
        refusal = non_canonical(request.scope)
        if refusal is not None:
            return refusal
        raw_path, query = raw_target(request.scope)
        rest = split_first(raw_path)[1]  # forwarded byte for byte, as the gateway checks it
        body = await request.body()
        if len(body) > MAX_BODY_BYTES:
            return JSONResponse({"success": False, "error": "payload_too_large"}, status_code=413)
        headers = {k: v for k, v in request.headers.items() if k.lower() in FORWARD_REQUEST}
        http: httpx.AsyncClient = request.app.state.http
        url = http.base_url.copy_with(raw_path=target(rest, query))
        try:
            upstream = await http.request(request.method, url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            detail = f"gateway unreachable: {exc.__class__.__name__}"
            return JSONResponse(
                {"success": False, "error": "gateway_unavailable", "detail": detail},
                status_code=502,
            )
        if rest == b"/auth/register" and upstream.status_code == 201:
            _remember_registration(control, body, upstream.content)
        out = {k: v for k, v in upstream.headers.items() if k.lower() in FORWARD_RESPONSE}
        return Response(upstream.content, status_code=upstream.status_code, headers=out)

    return app


def _remember_registration(control: Control, sent: bytes, answer: bytes) -> None:
    """Name the page's own user in the grid (its password stays in the browser)."""
    try:
        control.remember(int(json.loads(answer)["user_id"]), str(json.loads(sent)["username"]))
    except (ValueError, KeyError, TypeError):
        return
