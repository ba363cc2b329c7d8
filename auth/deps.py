"""FastAPI dependencies of the auth service, as Annotated aliases."""

from __future__ import annotations

import unicodedata
from typing import Annotated

from fastapi import Depends, Path, Query, Request
from pydantic import AfterValidator, BeforeValidator

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


MAX_USER_ID = 2**63 - 1  # ids are the database's signed 64-bit integers


def _decimal_digits(value: object) -> object:
    """Refuse the spellings a lax int parser accepts ("+7", "7.0", " 7", "0_7", "007"): an id in
    a path is written one way only."""
    if isinstance(value, str) and not (
        value.isascii() and value.isdigit() and value[0] != "0" and len(value) <= 19
    ):
        raise ValueError("a user id is a positive integer in decimal digits, no leading zero")
    return value


UserIdPath = Annotated[
    int,
    Path(ge=1, le=MAX_USER_ID, description="a user id: a positive 64-bit integer"),
    BeforeValidator(_decimal_digits),
]


def _printable(value: str) -> str:
    """No registered name holds a control or format character, and a NUL would reach the
    database's driver (PostgreSQL refuses it): such a name is refused, not looked up."""
    if any(unicodedata.category(ch).startswith("C") for ch in value):
        raise ValueError("a username has no control or format characters")
    return value


UsernameQuery = Annotated[
    str,
    Query(min_length=1, max_length=256, description="compared the way login compares it"),
    AfterValidator(_printable),
]
