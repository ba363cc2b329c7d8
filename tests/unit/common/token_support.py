"""What the token tests share: issuer and audience, minting, hand-made JWS, a counting JWKS."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Mapping
from typing import Any

import jwt
import pytest

from common.tokens import SigningKey, TokenError, mint_access_token, public_jwk, verify_token

ISS, AUD = "http://127.0.0.1:8000/auth", "discovery-lab"
MAX_LIFETIME, LEEWAY = 900, 30  # LAB_TOKEN_TTL and LAB_CLOCK_LEEWAY by default


def mint(key: SigningKey, **kw: Any) -> str:
    """A token as auth mints it: user 42, ISS, AUD and 60 s unless told otherwise."""
    return mint_access_token(
        key,
        user_id=kw.pop("user_id", 42),
        issuer=kw.pop("issuer", ISS),
        audience=kw.pop("audience", AUD),
        client_id="cli",
        ttl=kw.pop("ttl", 60),
        **kw,
    )


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def valid_claims(**over: Any) -> dict[str, Any]:
    """A claim set within the contract, for user 42, with `over` on top."""
    now = int(time.time())
    claims = {
        "iss": ISS,
        "sub": "42",
        "user_id": 42,
        "aud": AUD,
        "client_id": "cli",
        "iat": now,
        "exp": now + 60,
        "jti": "x",
    }
    claims.update(over)
    return claims


def forge(header: Mapping[str, Any], payload: Mapping[str, Any], signature: bytes = b"") -> str:
    """A JWS with any header and payload and a made-up signature."""
    return ".".join(
        [b64(json.dumps(header).encode()), b64(json.dumps(payload).encode()), b64(signature)]
    )


def sign_raw(key: SigningKey, header: Mapping[str, Any], claims: Mapping[str, Any]) -> str:
    """A JWS signed by the real key over exactly this header and these claims, with no library
    checking what an attacker could put there."""
    head, body = b64(json.dumps(header).encode()), b64(json.dumps(claims).encode())
    signature = jwt.get_algorithm_by_name(key.alg).sign(f"{head}.{body}".encode(), key.private_key)
    return f"{head}.{body}.{b64(signature)}"


def refused(token: str, keys: Mapping[str, jwt.PyJWK]) -> TokenError:
    """The error verify_token raises for this token (the test fails if it verifies)."""
    with pytest.raises(TokenError) as info:
        verify_token(
            token, keys, issuer=ISS, audience=AUD, max_lifetime=MAX_LIFETIME, leeway=LEEWAY
        )
    return info.value


class Jwks:
    """A JWKS fetcher serving one key's public half (tests add and drop keys), counting its
    fetches, and failing as an unreachable auth does while `down` is set."""

    def __init__(self, key: SigningKey) -> None:
        self.keys = [public_jwk(key)]
        self.fetches = 0
        self.down = False

    async def __call__(self) -> Mapping[str, Any]:
        self.fetches += 1
        if self.down:
            raise OSError("auth is down")
        return {"keys": list(self.keys)}
