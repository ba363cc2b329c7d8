"""FastAPI dependencies of the auth service, as Annotated aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from auth.service import AuthService
from common.tokens import Claims
from common.web import bearer_token, client_address, verified_claims


def get_service(request: Request) -> AuthService:
    """The AuthService built in the lifespan."""
    service: AuthService = request.app.state.service
    return service


ServiceDep = Annotated[AuthService, Depends(get_service)]


def get_address(request: Request, service: ServiceDep) -> str:
    """The client address that login throttling counts against."""
    return client_address(request, service.settings.internal_token())


AddressDep = Annotated[str, Depends(get_address)]


async def get_claims(service: ServiceDep, token: Annotated[str, Depends(bearer_token)]) -> Claims:
    """Verified claims of the bearer token, or 401."""
    return await verified_claims(service.verifier, token)


ClaimsDep = Annotated[Claims, Depends(get_claims)]
