"""FastAPI dependencies of the auth service, as Annotated aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from auth.service import AuthService
from common.forwarded import ForwardedTrust
from common.tokens import Claims
from common.web import bearer_token, client_address, verified_claims


def get_service(request: Request) -> AuthService:
    """The AuthService built in the lifespan."""
    service: AuthService = request.app.state.service
    return service


ServiceDep = Annotated[AuthService, Depends(get_service)]


async def get_address(request: Request) -> str:
    """The client address that login throttling counts against."""
    trust: ForwardedTrust = request.app.state.forwarded
    return await client_address(request, trust)


AddressDep = Annotated[str, Depends(get_address)]


async def get_claims(service: ServiceDep, token: Annotated[str, Depends(bearer_token)]) -> Claims:
    """Verified claims of the bearer token, or 401."""
    return await verified_claims(service.verifier, token)


ClaimsDep = Annotated[Claims, Depends(get_claims)]
