"""Token minting and verification: the allow-list, required claims and hostile tokens."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Mapping
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from common.tokens import (
    SigningKey,
    TokenError,
    Verifier,
    generate_private_key,
    keys_from_jwks,
    mint_access_token,
    public_jwk,
    verify_token,
)

ISS, AUD = "http://127.0.0.1:8000/auth", "discovery-lab"


@pytest.fixture(scope="module")
def rsa_key() -> SigningKey:
    return SigningKey("rsa-1", "RS256", generate_private_key("RS256"))


@pytest.fixture(scope="module")
def ed_key() -> SigningKey:
    return SigningKey("ed-1", "EdDSA", generate_private_key("EdDSA"))


def _mint(key: SigningKey, **kw: Any) -> str:
    return mint_access_token(
        key,
        user_id=kw.pop("user_id", 42),
        issuer=kw.pop("issuer", ISS),
        audience=kw.pop("audience", AUD),
        client_id="cli",
        ttl=kw.pop("ttl", 60),
        **kw,
    )


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _forge(header: dict[str, Any], payload: dict[str, Any], signature: bytes = b"") -> str:
    return ".".join(
        [_b64(json.dumps(header).encode()), _b64(json.dumps(payload).encode()), _b64(signature)]
    )


def _claims(**over: Any) -> dict[str, Any]:
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


def test_round_trip_both_algorithms(rsa_key: SigningKey, ed_key: SigningKey) -> None:
    keys = keys_from_jwks({"keys": [public_jwk(rsa_key), public_jwk(ed_key)]})
    for key in (rsa_key, ed_key):
        token = _mint(key)
        header = jwt.get_unverified_header(token)
        assert header == {"alg": key.alg, "kid": key.kid, "typ": "at+jwt"}
        claims = verify_token(token, keys, issuer=ISS, audience=AUD)
        assert (claims.user_id, claims.sub, claims.kid) == (42, "42", key.kid)


def _reason(token: str, keys: Mapping[str, jwt.PyJWK]) -> str:
    with pytest.raises(TokenError) as info:
        verify_token(token, keys, issuer=ISS, audience=AUD)
    return info.value.reason


def test_hostile_tokens_are_refused(rsa_key: SigningKey) -> None:
    keys = keys_from_jwks({"keys": [public_jwk(rsa_key)]})
    good = _mint(rsa_key)
    head, payload, sig = good.split(".")
    tampered_payload = ".".join([head, _b64(json.dumps(_claims(user_id=1, sub="1")).encode()), sig])
    flipped = sig[:-4] + ("AAAA" if sig[-4:] != "AAAA" else "BBBB")
    public_pem = rsa_key.private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    import hashlib
    import hmac

    hs_header = {"alg": "HS256", "kid": rsa_key.kid, "typ": "at+jwt"}
    signing_input = f"{_b64(json.dumps(hs_header).encode())}.{_b64(json.dumps(_claims()).encode())}"
    hs_sig = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    hs256 = f"{signing_input}.{_b64(hs_sig)}"
    no_exp = jwt.encode(
        {k: v for k, v in _claims().items() if k != "exp"},
        rsa_key.private_key,
        algorithm="RS256",
        headers={"kid": rsa_key.kid, "typ": "at+jwt"},
    )
    cases = {
        "tampered payload": tampered_payload,
        "tampered signature": ".".join([head, payload, flipped]),
        "alg none": _forge({"alg": "none", "kid": rsa_key.kid, "typ": "at+jwt"}, _claims()),
        "HS256 with the public key": hs256,
        "expired": _mint(rsa_key, now=int(time.time()) - 120, ttl=60),
        "wrong aud": _mint(rsa_key, audience="someone-else"),
        "wrong iss": _mint(rsa_key, issuer="https://evil.example"),
        "unknown kid": _mint(SigningKey("nope", "RS256", rsa_key.private_key)),
        "missing exp": no_exp,
        "wrong typ": jwt.encode(
            _claims(),
            rsa_key.private_key,
            algorithm="RS256",
            headers={"kid": rsa_key.kid, "typ": "JWT"},
        ),
        "garbage": "not-a-jwt",
        "empty": "",
        "oversized": "a" * 20000,
        "sub mismatch": jwt.encode(
            _claims(sub="7"),
            rsa_key.private_key,
            algorithm="RS256",
            headers={"kid": rsa_key.kid, "typ": "at+jwt"},
        ),
        "user_id string": jwt.encode(
            _claims(user_id="42"),
            rsa_key.private_key,
            algorithm="RS256",
            headers={"kid": rsa_key.kid, "typ": "at+jwt"},
        ),
    }
    for name, token in cases.items():
        reason = _reason(token, keys)
        assert reason, name
    assert _reason(cases["alg none"], keys) == "bad_alg"
    assert _reason(cases["HS256 with the public key"], keys) == "bad_alg"
    assert _reason(cases["expired"], keys) == "expired"
    assert _reason(cases["unknown kid"], keys) == "unknown_kid"


def test_jku_and_embedded_jwk_are_never_used(rsa_key: SigningKey) -> None:
    attacker = generate_private_key("RS256")
    evil = SigningKey(rsa_key.kid, "RS256", attacker)
    headers = {
        "kid": rsa_key.kid,
        "typ": "at+jwt",
        "jku": "http://evil/jwks",
        "jwk": public_jwk(evil),
    }
    token = jwt.encode(_claims(), attacker, algorithm="RS256", headers=headers)
    keys = keys_from_jwks({"keys": [public_jwk(rsa_key)]})
    assert _reason(token, keys) == "invalid"


def test_alg_mismatch_between_token_and_key(rsa_key: SigningKey, ed_key: SigningKey) -> None:
    # An EdDSA token whose kid names the RSA key is refused before any signature check.
    token = _mint(SigningKey(rsa_key.kid, "EdDSA", ed_key.private_key))
    keys = keys_from_jwks({"keys": [public_jwk(rsa_key)]})
    assert _reason(token, keys) == "bad_alg"


def test_jwks_filters_disallowed_keys(rsa_key: SigningKey) -> None:
    jwks = {
        "keys": [
            public_jwk(rsa_key),
            {"kty": "oct", "k": "c2VjcmV0", "kid": "h", "alg": "HS256"},
            "junk",
            {"kid": 5},
        ]
    }
    assert list(keys_from_jwks(jwks)) == [rsa_key.kid]


def test_verifier_caches_and_refreshes_on_unknown_kid(rsa_key: SigningKey) -> None:
    new_key = SigningKey("rsa-2", "RS256", generate_private_key("RS256"))
    published = {"keys": [public_jwk(rsa_key)]}
    fetches = 0

    async def fetch() -> Mapping[str, Any]:
        nonlocal fetches
        fetches += 1
        return published

    async def scenario() -> None:
        verifier = Verifier(fetch, ISS, AUD, jwks_ttl=60, min_refresh_interval=0)
        token = _mint(rsa_key)
        assert (await verifier.verify(token)).user_id == 42
        assert (await verifier.verify(token)).user_id == 42
        assert verifier.cache_hits == 1 and fetches == 1
        published["keys"].append(public_jwk(new_key))
        assert (await verifier.verify(_mint(new_key))).kid == "rsa-2"
        assert fetches == 2
        # Revocation: once the JWKS drops a key, cached tokens of that key are refused.
        published["keys"] = [public_jwk(new_key)]
        verifier._fetched_at = float("-inf")
        with pytest.raises(TokenError):
            await verifier.verify(token)

    asyncio.run(scenario())


def test_verifier_throttles_refresh(rsa_key: SigningKey) -> None:
    fetches = 0

    async def fetch() -> Mapping[str, Any]:
        nonlocal fetches
        fetches += 1
        return {"keys": [public_jwk(rsa_key)]}

    async def scenario() -> None:
        verifier = Verifier(fetch, ISS, AUD, jwks_ttl=60, min_refresh_interval=30)
        stranger = _mint(SigningKey("unknown", "RS256", rsa_key.private_key))
        for _ in range(20):
            with pytest.raises(TokenError):
                await verifier.verify(stranger)

    asyncio.run(scenario())
    assert fetches == 1


def test_cached_token_still_expires(rsa_key: SigningKey) -> None:
    now = [time.time()]

    async def fetch() -> Mapping[str, Any]:
        return {"keys": [public_jwk(rsa_key)]}

    async def scenario() -> None:
        verifier = Verifier(fetch, ISS, AUD, jwks_ttl=1e9, clock=lambda: now[0])
        token = _mint(rsa_key, ttl=5)
        await verifier.verify(token)
        now[0] += 10
        with pytest.raises(TokenError) as info:
            await verifier.verify(token)
        assert info.value.reason == "expired"

    asyncio.run(scenario())
