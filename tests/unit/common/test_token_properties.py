"""Property tests: whatever bytes, edits, headers or claims reach the verifier, it answers with
a clean TokenError (a 401 at the HTTP edge) or, for an untouched valid token, the right claims."""

from __future__ import annotations

import asyncio
import base64
import time
from typing import Any

import jwt
import pytest
from fastapi import HTTPException
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from common.tokens import (
    REQUIRED_CLAIMS,
    Claims,
    SigningKey,
    TokenError,
    Verifier,
    generate_private_key,
    keys_from_jwks,
    mint_access_token,
    public_jwk,
    verify_token,
)
from common.web import bearer_token, verified_claims
from tests.unit.common.token_support import AUD, ISS, LEEWAY, Jwks, refused, sign_raw

KEY = SigningKey("rsa-fuzz", "RS256", generate_private_key("RS256"))
KEYS = keys_from_jwks({"keys": [public_jwk(KEY)]})
# Minted at import, which may be long before a test runs in a full suite: a lifetime of years,
# which the verifier is told is the longest issued.
LIFETIME = 10 * 365 * 24 * 3600
GOOD = mint_access_token(KEY, user_id=42, issuer=ISS, audience=AUD, client_id="cli", ttl=LIFETIME)
# Derandomised: every run tries the same examples, so a run is repeatable; raise
# max_examples locally to search further.
FUZZ = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def _verify(token: str) -> Claims:
    return verify_token(token, KEYS, issuer=ISS, audience=AUD, max_lifetime=LIFETIME, leeway=LEEWAY)


def _segments(token: str) -> list[bytes] | None:
    """The decoded bytes of each segment, or None if the token is not three base64url parts."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        return [base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)) for p in parts]
    except ValueError:
        return None


# JSON values that are valid, wrong-typed or out of range for any claim or header member.
JSON_ATOMS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
)
JSON_VALUES = st.recursive(
    JSON_ATOMS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)


@FUZZ
@given(st.binary(max_size=2048))
def test_arbitrary_bytes_are_refused(raw: bytes) -> None:
    # An HTTP header reaches the app decoded as latin-1, so every byte string is a possible token.
    refused(raw.decode("latin-1"), KEYS)


@FUZZ
@given(st.text(max_size=1024))
def test_arbitrary_text_is_refused(text: str) -> None:
    refused(text, KEYS)


@FUZZ
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["replace", "delete", "insert"]),
            st.integers(min_value=0, max_value=len(GOOD) - 1),
            st.characters(codec="ascii"),
        ),
        min_size=1,
        max_size=4,
    )
)
def test_edited_tokens_are_refused_unless_their_bytes_are_unchanged(
    edits: list[tuple[str, int, str]],
) -> None:
    token = GOOD
    for op, wanted, char in edits:
        at = min(wanted, max(len(token) - 1, 0))
        if op == "replace":
            token = token[:at] + char + token[at + 1 :]
        elif op == "delete":
            token = token[:at] + token[at + 1 :]
        else:
            token = token[:at] + char + token[at:]
    try:
        claims = _verify(token)
    except TokenError:
        return
    # base64url has spare bits in a segment's last character: an edit there may decode to the
    # very same bytes, and only then may the token still verify.
    assert _segments(token) == _segments(GOOD), token
    assert claims.user_id == 42


HEADER_NAMES = st.sampled_from(
    ["alg", "typ", "kid", "crit", "zip", "jku", "jwk", "x5u", "x5c", "cty", "b64", "enc"]
)


@FUZZ
@given(st.dictionaries(HEADER_NAMES | st.text(max_size=6), JSON_VALUES, max_size=4))
def test_signed_tokens_with_edited_headers(changes: dict[str, Any]) -> None:
    header = {"alg": "RS256", "typ": "at+jwt", "kid": KEY.kid, **changes}
    claims = jwt.decode(GOOD, options={"verify_signature": False})
    try:
        token = sign_raw(KEY, header, claims)
    except (TypeError, ValueError):
        return  # not representable as a JWS at all
    ok = (
        header.get("alg") == "RS256"
        and header.get("kid") == KEY.kid
        and isinstance(header.get("typ"), str)
        and header["typ"].lower() in ("at+jwt", "application/at+jwt")
        and "crit" not in header
        and "zip" not in header
        and "b64" not in header
    )
    if ok:
        assert _verify(token).user_id == 42
    else:
        refused(token, KEYS)


CLAIM_NAMES = st.sampled_from([*REQUIRED_CLAIMS, "nbf"])


@FUZZ
@given(st.dictionaries(CLAIM_NAMES, JSON_VALUES, max_size=4), st.sets(CLAIM_NAMES, max_size=2))
def test_signed_tokens_with_edited_claims(changes: dict[str, Any], dropped: set[str]) -> None:
    # Even a token auth itself signed never gets past the verifier with claims out of contract.
    claims = {**jwt.decode(GOOD, options={"verify_signature": False}), **changes}
    for name in dropped:
        claims.pop(name, None)
    token = sign_raw(KEY, {"alg": "RS256", "typ": "at+jwt", "kid": KEY.kid}, claims)
    try:
        verified = _verify(token)
    except TokenError:
        return
    assert all(name in claims for name in REQUIRED_CLAIMS)
    assert claims["iss"] == ISS and AUD in (
        [claims["aud"]] if isinstance(claims["aud"], str) else claims["aud"]
    )
    assert type(claims["user_id"]) is int and 0 < claims["user_id"] < 2**63
    assert claims["sub"] == str(claims["user_id"]) == verified.sub
    now = time.time()
    assert isinstance(claims["exp"], int) and claims["exp"] > now - LEEWAY
    assert isinstance(claims["iat"], int) and claims["iat"] <= now + LEEWAY
    assert claims["exp"] - claims["iat"] <= LIFETIME


@FUZZ
@given(st.text(max_size=200) | st.binary(max_size=200).map(lambda b: b.decode("latin-1")))
def test_any_authorization_header_gets_a_clean_401(value: str) -> None:
    async def scenario() -> None:
        verifier = Verifier(Jwks(KEY), ISS, AUD, LIFETIME, LEEWAY, min_refresh_interval=1e9)
        with pytest.raises(HTTPException) as info:
            token = await bearer_token(authorization=value)
            await verified_claims(verifier, token)
        assert info.value.status_code == 401

    asyncio.run(scenario())
