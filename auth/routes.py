"""Thin HTTP routes of the auth service."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Response
from fastapi.responses import JSONResponse

from auth.deps import AddressDep, ClaimsDep, ServiceDep, UserIdPath, UsernameQuery
from auth.models import (
    FoundUser,
    LoginBody,
    RegisterBody,
    RegisteredBody,
    TokenBody,
    UpdatedBody,
)
from common.attributes import AttributeChanges, ProfileChanges
from common.web import ErrorBody, ModeBody, error_responses, internal_guard, metrics_response

router = APIRouter()
internal = APIRouter(prefix="/internal", responses=error_responses(401, 422, 503))


@router.post("/register", status_code=201, responses=error_responses(409, 413, 422, 429, 503))
async def register(body: RegisterBody, service: ServiceDep, address: AddressDep) -> RegisteredBody:
    """Register a user; the database generates the integer user_id (409 if the name is
    taken, 422 for a password the rules refuse); taken-name answers are throttled (429)."""
    user_id = await service.register(body.username, body.password, address, body.attributes())
    return RegisteredBody(user_id=user_id)


@router.post("/login", responses=error_responses(401, 413, 422, 429, 503))
async def login(body: LoginBody, service: ServiceDep, address: AddressDep) -> TokenBody:
    """Exchange a username and password for an access token (401 for any wrong credential);
    failures are throttled (429)."""
    token = await service.login(body.username, body.password, address)
    return TokenBody(token=token, expires_in=service.settings.lab_token_ttl)


def _given(body: ProfileChanges) -> dict[str, Any]:
    """The attributes a change names; 422 if it names none."""
    changes = body.given()
    if not changes:
        raise HTTPException(
            422,
            detail={"success": False, "error": "invalid_request", "detail": "no attribute given"},
        )
    return changes


def _answer(description: str) -> dict[str, object]:
    """An OpenAPI error answer whose meaning on this route is narrower than the code's."""
    return {"model": ErrorBody, "description": description}


@router.patch("/users/me", responses=error_responses(401, 403, 413, 422, 503))
async def update_me(body: ProfileChanges, claims: ClaimsDep, service: ServiceDep) -> UpdatedBody:
    """Change the caller's own display_name and email (the plan is the operator's: 422); the
    answer is every attribute and their new version (403 for a deactivated caller)."""
    attributes, version = await service.update_attributes(claims.user_id, _given(body))
    return UpdatedBody(user_id=claims.user_id, attributes=attributes, version=version)


@router.delete("/users/me", status_code=204, responses=error_responses(401, 422, 503))
async def deactivate(claims: ClaimsDep, service: ServiceDep) -> Response:
    """Deactivate the caller; the username stays reserved."""
    await service.deactivate(claims)
    return Response(status_code=204)


@router.get("/.well-known/jwks.json")
async def jwks(service: ServiceDep) -> Response:
    """The public signing keys, the next one included; caches may keep them for the lifetime
    that the key publication lead allows for."""
    max_age = int(service.settings.lab_jwks_cache_ttl)
    return JSONResponse(
        service.keys.jwks(), headers={"Cache-Control": f"public, max-age={max_age}"}
    )


@router.get("/.well-known/openid-configuration")
async def discovery(service: ServiceDep) -> dict[str, Any]:
    """The discovery document, so off-the-shelf OIDC/JOSE clients can find the keys."""
    issuer = service.settings.lab_issuer.rstrip("/")
    return {
        "issuer": issuer,
        "jwks_uri": f"{issuer}/.well-known/jwks.json",
        "token_endpoint": f"{issuer}/login",
        "registration_endpoint": f"{issuer}/register",
        "grant_types_supported": ["password"],
        "response_types_supported": ["token"],
        "token_endpoint_auth_methods_supported": ["none"],
        "id_token_signing_alg_values_supported": [service.settings.lab_jwt_alg.value],
        "access_token_signing_alg_values_supported": ["RS256", "EdDSA"],
        "subject_types_supported": ["public"],
        "claims_supported": ["iss", "sub", "user_id", "aud", "client_id", "iat", "exp", "jti"],
    }


@router.get("/metrics", include_in_schema=False)
async def metrics(service: ServiceDep) -> Response:
    """Prometheus metrics from the status counters."""
    return metrics_response("auth", await service.status())


@internal.get("/status")
async def status(service: ServiceDep) -> dict[str, Any]:
    """Mode, publishing and counters."""
    return await service.status()


@internal.put("/mode")
async def switch_mode(body: ModeBody, service: ServiceDep) -> dict[str, Any]:
    """Switch mode and publishing without a restart."""
    await service.switch(body.mode, body.publish)
    return await service.status()


@internal.get("/users", responses={404: _answer("no user has this name")})
async def find_user(username: UsernameQuery, service: ServiceDep) -> FoundUser:
    """Look a user up by name, compared the way login compares it: operators know names."""
    user_id, name, active = await service.find_user(username)
    return FoundUser(user_id=user_id, username=name, active=active)


@internal.patch(
    "/users/{user_id}",
    responses={
        404: _answer("no user has this id"),
        409: _answer("the user is deactivated"),
        **error_responses(413),
    },
)
async def update_user(
    user_id: UserIdPath, body: AttributeChanges, service: ServiceDep
) -> UpdatedBody:
    """The operator changes any attribute of a user, the plan included, with the same
    versioning and the same user.updated event as the user's own change."""
    attributes, version = await service.operator_update(user_id, _given(body))
    return UpdatedBody(user_id=user_id, attributes=attributes, version=version)


def internal_router(expected_token: Any) -> APIRouter:
    """The /internal router guarded by X-Internal-Token."""
    guarded = APIRouter(dependencies=[Depends(internal_guard(expected_token))])
    guarded.include_router(internal)
    return guarded
