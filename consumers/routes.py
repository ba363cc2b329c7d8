"""Thin HTTP routes shared by every consumer service."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Depends, Response
from fastapi.responses import JSONResponse

from common.settings import Mode
from common.timing import phase
from common.tokens import Claims
from common.web import ModeBody, error_responses, internal_guard, metrics_response
from consumers import store
from consumers.deps import ClaimsDep, ServiceDep
from consumers.discovery.base import Resolution, UnknownUser, UserDeactivated

router = APIRouter()
internal = APIRouter(prefix="/internal", responses=error_responses(401, 422, 503))


async def _resolve(service: ServiceDep, claims: Claims) -> Resolution | JSONResponse:
    user_id = claims.user_id
    try:
        with phase("discover"):
            return await service.discovery.resolve(claims)
    except UnknownUser:
        return JSONResponse({"error": "unknown_user", "user_id": user_id}, status_code=403)
    except UserDeactivated:
        return JSONResponse({"error": "user_deactivated", "user_id": user_id}, status_code=403)


@router.get("/whoami", responses=error_responses(401, 403, 422, 503))
async def whoami(claims: ClaimsDep, service: ServiceDep) -> Any:
    """Who the caller is to this service, and how the service learned of them."""
    found = await _resolve(service, claims)
    if isinstance(found, JSONResponse):
        return found
    return {
        "service": service.name,
        "user_id": found.user.user_id,
        "discovered_by": found.user.discovered_by,
        "known_since": found.user.known_since.isoformat(),
        "first_call": found.first_call,
        **found.user.attributes_view(),
    }


@router.get("/verify", responses=error_responses(401, 422))
async def verify_only(claims: ClaimsDep, service: ServiceDep) -> Any:
    """Token verification alone, with no discovery: the benchmark's baseline."""
    return {"service": service.name, "user_id": claims.user_id}


@router.get("/me", responses=error_responses(401, 403, 422, 503))
async def me(claims: ClaimsDep, service: ServiceDep) -> Any:
    """The service's own record for the caller (profile or welcome message)."""
    found = await _resolve(service, claims)
    if isinstance(found, JSONResponse):
        return found
    record = await asyncio.to_thread(service.ctx.spec.describe, service.ctx.engine, claims.user_id)
    return {"service": service.name, "user_id": claims.user_id, "record": record}


@router.get("/metrics", include_in_schema=False)
async def metrics(service: ServiceDep) -> Response:
    """Prometheus metrics from the status counters."""
    return metrics_response(service.name, await service.status())


@internal.get("/status")
async def status(service: ServiceDep) -> dict[str, Any]:
    """Mode, subscriber health and counters."""
    return await service.status()


@internal.get("/known-users")
async def known_users(service: ServiceDep) -> dict[str, Any]:
    """Every user this service knows."""
    users = await asyncio.to_thread(store.list_known, service.ctx.engine)
    return {"users": [u.as_json() for u in users]}


@internal.put("/mode")
async def switch_mode(body: ModeBody, service: ServiceDep) -> Any:
    """Switch the discovery mode without a restart (publish is auth's concern)."""
    try:
        mode = Mode(body.mode)
    except ValueError as exc:
        return JSONResponse(
            {"success": False, "error": "invalid_mode", "detail": str(exc)}, status_code=422
        )
    await service.switch(mode)
    return await service.status()


def internal_router(expected_token: Any) -> APIRouter:
    """The /internal router guarded by X-Internal-Token."""
    guarded = APIRouter(dependencies=[Depends(internal_guard(expected_token))])
    guarded.include_router(internal)
    return guarded
