"""Thin HTTP routes shared by every consumer service."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Depends, Response

from common.timing import phase
from common.tokens import Claims
from common.web import ModeBody, error_responses, internal_guard, metrics_response
from consumers import store
from consumers.deps import ClaimsDep, ServiceDep
from consumers.discovery.base import Resolution
from consumers.models import KnownUsersBody, MeBody, VerifiedBody, WhoAmIBody
from consumers.service import ConsumerService

router = APIRouter()
internal = APIRouter(prefix="/internal", responses=error_responses(401, 422, 503))


async def _resolve(service: ConsumerService, claims: Claims) -> Resolution:
    """The caller as this service knows them; UnknownUser or UserDeactivated answer 403."""
    service.ctx.stats.calls_served += 1
    with phase("discover"):
        return await service.discovery.resolve(claims)


@router.get("/whoami", responses=error_responses(401, 403, 422, 503))
async def whoami(claims: ClaimsDep, service: ServiceDep) -> WhoAmIBody:
    """Who the caller is to this service, and how the service learned of them."""
    found = await _resolve(service, claims)
    seen = found.user.attributes_seen_at
    return WhoAmIBody(
        service=service.name,
        user_id=found.user.user_id,
        discovered_by=found.user.discovered_by,
        known_since=found.user.known_since.isoformat(),
        first_call=found.first_call,
        attributes=dict(found.user.attributes),
        attributes_version=found.user.attributes_version,
        attributes_seen_at=seen.isoformat() if seen else None,
    )


@router.get("/verify", responses=error_responses(401, 422))
async def verify_only(claims: ClaimsDep, service: ServiceDep) -> VerifiedBody:
    """Token verification alone, with no discovery: the benchmark's baseline."""
    return VerifiedBody(service=service.name, user_id=claims.user_id)


@router.get("/me", responses=error_responses(401, 403, 422, 503))
async def me(claims: ClaimsDep, service: ServiceDep) -> MeBody:
    """The service's own record for the caller (profile or welcome message)."""
    await _resolve(service, claims)
    record = await asyncio.to_thread(service.ctx.spec.describe, service.ctx.engine, claims.user_id)
    return MeBody(service=service.name, user_id=claims.user_id, record=record)


@router.get("/metrics", include_in_schema=False)
async def metrics(service: ServiceDep) -> Response:
    """Prometheus metrics from the status counters."""
    return metrics_response(service.name, await service.status())


@internal.get("/status")
async def status(service: ServiceDep) -> dict[str, Any]:
    """Mode, subscriber health and counters."""
    return await service.status()


@internal.get("/known-users")
async def known_users(service: ServiceDep) -> KnownUsersBody:
    """Every user this service knows, with the stage stamps of the event behind each."""
    users = await asyncio.to_thread(store.list_known, service.ctx.engine)
    stages = service.ctx.stages
    return KnownUsersBody(users=[u.as_body(stages.of(u.user_id)) for u in users])


@internal.put("/mode")
async def switch_mode(body: ModeBody, service: ServiceDep) -> dict[str, Any]:
    """Switch the discovery mode without a restart (publish is auth's concern)."""
    await service.switch(body.mode)
    return await service.status()


def internal_router(expected_token: Any) -> APIRouter:
    """The /internal router guarded by X-Internal-Token."""
    guarded = APIRouter(dependencies=[Depends(internal_guard(expected_token))])
    guarded.include_router(internal)
    return guarded
