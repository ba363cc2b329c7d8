"""FastAPI dependencies of consumer services, as Annotated aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from common.timing import phase
from common.tokens import Claims
from common.web import bearer_token, verified_claims
from consumers.service import ConsumerService


def get_service(request: Request) -> ConsumerService:
    """The ConsumerService built in the lifespan."""
    service: ConsumerService = request.app.state.service
    return service


ServiceDep = Annotated[ConsumerService, Depends(get_service)]


async def get_claims(service: ServiceDep, token: Annotated[str, Depends(bearer_token)]) -> Claims:
    """Verified claims of the bearer token, or 401."""
    with phase("verify"):
        return await verified_claims(service.verifier, token)


ClaimsDep = Annotated[Claims, Depends(get_claims)]
