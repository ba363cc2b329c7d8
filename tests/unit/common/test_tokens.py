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


# -- RFC 8725 (JWT best current practices): one named test per attack class that applies ------


def _signed(key: SigningKey, claims: dict[str, Any] | None = None, **header: Any) -> str:
    """A JWS signed by the real key over exactly these claims and header members (None drops
    one), with no library checking what an attacker could put there."""
    fields = {"alg": key.alg, "kid": key.kid, "typ": "at+jwt", **header}
    head = _b64(json.dumps({k: v for k, v in fields.items() if v is not None}).encode())
    body = _b64(json.dumps(_claims() if claims is None else claims).encode())
    signature = jwt.get_algorithm_by_name(key.alg).sign(f"{head}.{body}".encode(), key.private_key)
    return f"{head}.{body}.{_b64(signature)}"


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE", ""])
def test_rfc8725_2_1_alg_none_in_any_spelling(rsa_key: SigningKey, alg: str) -> None:
    token = _forge({"alg": alg, "kid": rsa_key.kid, "typ": "at+jwt"}, _claims())
    assert _reason(token, keys_from_jwks({"keys": [public_jwk(rsa_key)]})) == "bad_alg"


def test_rfc8725_3_2_algorithms_outside_the_allow_list(rsa_key: SigningKey) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec

    ec_key = ec.generate_private_key(ec.SECP256R1())
    public_pem = rsa_key.private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    head = {"kid": rsa_key.kid, "typ": "at+jwt"}
    keys = keys_from_jwks({"keys": [public_jwk(rsa_key)]})
    signed_by = {
        "RS384": rsa_key.private_key,
        "RS512": rsa_key.private_key,
        "PS256": rsa_key.private_key,
        "ES256": ec_key,
        "HS512": public_pem,  # algorithm confusion with the published key as an HMAC secret
    }
    for alg, private in signed_by.items():
        if alg.startswith("HS"):
            token = _hmac_token(alg, public_pem, head)
        else:
            token = jwt.encode(_claims(), private, algorithm=alg, headers=head)
        assert _reason(token, keys) == "bad_alg", alg


def _hmac_token(alg: str, secret: bytes, head: dict[str, Any]) -> str:
    import hashlib
    import hmac

    digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}[alg]
    signing_input = (
        f"{_b64(json.dumps({'alg': alg, **head}).encode())}.{_b64(json.dumps(_claims()).encode())}"
    )
    return f"{signing_input}.{_b64(hmac.new(secret, signing_input.encode(), digest).digest())}"


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
def test_rfc8725_3_2_weak_rsa_key_in_the_jwks_is_never_used() -> None:
    from cryptography.hazmat.primitives.asymmetric import rsa

    weak = SigningKey("weak", "RS256", rsa.generate_private_key(65537, 1024))  # noqa: S505
    keys = keys_from_jwks({"keys": [public_jwk(weak)]})
    assert keys == {}
    assert _reason(_mint(weak), keys) == "unknown_kid"


def test_rfc8725_2_3_an_encrypted_token_is_not_taken_for_a_signed_one(rsa_key: SigningKey) -> None:
    # Compact JWE has five parts; the verifier accepts only a JWS and never decrypts.
    header = _b64(
        json.dumps({"alg": "RSA-OAEP-256", "enc": "A256GCM", "kid": rsa_key.kid}).encode()
    )
    jwe = ".".join([header, _b64(b"k" * 256), _b64(b"iv" * 6), _b64(b"ct"), _b64(b"t" * 16)])
    assert _reason(jwe, keys_from_jwks({"keys": [public_jwk(rsa_key)]})) == "malformed"


def test_rfc8725_2_6_json_encoding_tricks(rsa_key: SigningKey) -> None:
    keys = keys_from_jwks({"keys": [public_jwk(rsa_key)]})
    good = _mint(rsa_key)
    _, payload, sig = good.split(".")
    duplicate = '{"alg":"RS256","typ":"at+jwt","kid":"KID","alg":"none"}'.replace(
        "KID", rsa_key.kid
    )
    not_utf8 = b'{"alg":"RS256","typ":"at+jwt","kid":"\xff\xfe"}'
    assert _reason(".".join([_b64(duplicate.encode()), payload, sig]), keys) == "bad_alg"
    assert _reason(".".join([_b64(not_utf8), payload, sig]), keys) == "malformed"
    assert _reason(".".join([_b64(b"[1, 2]"), payload, sig]), keys) == "malformed"


def test_rfc8725_2_7_substitution_of_header_or_signature(
    rsa_key: SigningKey, ed_key: SigningKey
) -> None:
    other = SigningKey("rsa-2", "RS256", generate_private_key("RS256"))
    keys = keys_from_jwks({"keys": [public_jwk(rsa_key), public_jwk(other)]})
    mine, theirs = _mint(rsa_key, user_id=1), _mint(other, user_id=2)
    m, t = mine.split("."), theirs.split(".")
    assert _reason(".".join([t[0], m[1], m[2]]), keys) == "invalid"  # header names the other key
    assert _reason(".".join([m[0], t[1], m[2]]), keys) == "invalid"  # someone else's claims
    assert _reason(".".join([m[0], m[1], t[2]]), keys) == "invalid"  # someone else's signature


@pytest.mark.parametrize(
    "typ", ["JWT", "secevent+jwt", "dpop+jwt", "application/jwt", "at+jwt ", None]
)
def test_rfc8725_2_8_cross_jwt_confusion_by_type(rsa_key: SigningKey, typ: str | None) -> None:
    # Another kind of JWT signed by the very same key (an event, a proof) is not an access token.
    token = _signed(rsa_key, typ=typ)
    assert _reason(token, keys_from_jwks({"keys": [public_jwk(rsa_key)]})) == "bad_typ"


def test_rfc8725_2_8_cross_jwt_confusion_by_audience(rsa_key: SigningKey) -> None:
    keys = keys_from_jwks({"keys": [public_jwk(rsa_key)]})
    for aud in (["other-api"], [], "discovery-lab-admin", None):
        token = _signed(rsa_key, _claims(aud=aud))
        assert _reason(token, keys) == "invalid", aud
    accepted = verify_token(
        _signed(rsa_key, _claims(aud=["x", AUD])), keys, issuer=ISS, audience=AUD
    )
    assert accepted.user_id == 42


@pytest.mark.parametrize(
    "kid",
    [
        "../../../../dev/null",
        "' OR '1'='1",
        "http://127.0.0.1:1/jwks.json",
        "rsa-1\x00",
        "k" * 4000,
        7,
        ["rsa-1"],
        {"kid": "rsa-1"},
    ],
)
def test_rfc8725_2_9_kid_injection(rsa_key: SigningKey, kid: Any) -> None:
    fetched = 0

    async def fetch() -> Mapping[str, Any]:
        nonlocal fetched
        fetched += 1
        return {"keys": [public_jwk(rsa_key)]}

    async def scenario() -> str:
        verifier = Verifier(fetch, ISS, AUD, min_refresh_interval=60)
        with pytest.raises(TokenError) as info:
            await verifier.verify(_signed(rsa_key, kid=kid))
        for _ in range(5):  # repeated hostile kids never become a fetch storm
            with pytest.raises(TokenError):
                await verifier.verify(_signed(rsa_key, kid=kid))
        return info.value.reason

    reason = asyncio.run(scenario())
    assert reason in {"unknown_kid", "no_kid", "malformed"}
    assert fetched == 1


@pytest.mark.parametrize("member", ["x5u", "x5c", "jku", "jwk"])
def test_rfc8725_2_9_keys_and_urls_named_in_a_token_are_never_used(
    rsa_key: SigningKey, member: str
) -> None:
    attacker = SigningKey(rsa_key.kid, "RS256", generate_private_key("RS256"))
    values: dict[str, Any] = {
        "x5u": "http://127.0.0.1:1/cert.pem",
        "x5c": ["MIIB" + "A" * 60],
        "jku": "http://127.0.0.1:1/jwks.json",
        "jwk": public_jwk(attacker),
    }
    fetched = 0

    async def fetch() -> Mapping[str, Any]:
        nonlocal fetched
        fetched += 1
        return {"keys": [public_jwk(rsa_key)]}

    async def scenario() -> str:
        verifier = Verifier(fetch, ISS, AUD)
        with pytest.raises(TokenError) as info:
            await verifier.verify(_signed(attacker, **{member: values[member]}))
        return info.value.reason

    assert asyncio.run(scenario()) == "invalid"
    assert fetched == 1  # only the configured JWKS, once


def test_rfc8725_3_10_a_foreign_issuer_is_refused_not_followed(rsa_key: SigningKey) -> None:
    keys = keys_from_jwks({"keys": [public_jwk(rsa_key)]})
    for iss in ("http://127.0.0.1:1/auth", ISS + "/", ISS.upper(), ["x", ISS], None):
        assert _reason(_signed(rsa_key, _claims(iss=iss)), keys) == "invalid", iss


def test_rfc8725_3_6_compressed_and_oversized_input(rsa_key: SigningKey) -> None:
    import zlib

    keys = keys_from_jwks({"keys": [public_jwk(rsa_key)]})
    bomb = zlib.compress(json.dumps({**_claims(), "pad": "0" * 1_000_000}).encode(), 9)
    head = _b64(
        json.dumps({"alg": "RS256", "typ": "at+jwt", "kid": rsa_key.kid, "zip": "DEF"}).encode()
    )
    signature = jwt.get_algorithm_by_name("RS256").sign(
        f"{head}.{_b64(bomb)}".encode(), rsa_key.private_key
    )
    assert _reason(f"{head}.{_b64(bomb)}.{_b64(signature)}", keys) == "bad_header"
    assert _reason(_signed(rsa_key, zip="DEF"), keys) == "bad_header"
    for member in ({"crit": ["exp"]}, {"b64": False}):  # PyJWT itself may refuse these first
        assert _reason(_signed(rsa_key, **member), keys) in {"bad_header", "malformed"}
    big = _signed(rsa_key, _claims(pad="x" * 9000))  # validly signed, over the size bound
    assert _reason(big, keys) == "malformed"
    assert _reason("." * 9000, keys) == "malformed"


@pytest.mark.parametrize(
    "change",
    [
        {"user_id": True, "sub": "True"},
        {"user_id": 0, "sub": "0"},
        {"user_id": -1, "sub": "-1"},
        {"user_id": 2**63, "sub": str(2**63)},
        {"user_id": 42.0},
        {"exp": "9999999999"},
        {"exp": 1e300},
        {"nbf": 9_999_999_999},
        {"client_id": 5},
        {"jti": None},
    ],
    ids=lambda c: ",".join(f"{k}={v!r}"[:24] for k, v in c.items()),
)
def test_rfc8725_claims_validation(rsa_key: SigningKey, change: dict[str, Any]) -> None:
    keys = keys_from_jwks({"keys": [public_jwk(rsa_key)]})
    assert _reason(_signed(rsa_key, _claims(**change)), keys) in {"invalid", "expired"}


@pytest.mark.parametrize(
    "claim", ["iss", "sub", "user_id", "aud", "client_id", "iat", "exp", "jti"]
)
def test_rfc8725_every_required_claim_is_required(rsa_key: SigningKey, claim: str) -> None:
    claims = {k: v for k, v in _claims().items() if k != claim}
    assert (
        _reason(_signed(rsa_key, claims), keys_from_jwks({"keys": [public_jwk(rsa_key)]}))
        == "invalid"
    )


def test_an_aged_cache_refreshes_even_inside_the_unknown_kid_throttle(
    rsa_key: SigningKey,
) -> None:
    """A key published jwks_ttl before it signs is known by then, whatever the throttle."""
    now = [1000.0]
    next_key = SigningKey("rsa-next", "RS256", generate_private_key("RS256"))
    published = {"keys": [public_jwk(rsa_key)]}
    fetches = 0

    async def fetch() -> Mapping[str, Any]:
        nonlocal fetches
        fetches += 1
        return {"keys": list(published["keys"])}

    async def scenario() -> None:
        verifier = Verifier(
            fetch, ISS, AUD, jwks_ttl=2, min_refresh_interval=30, clock=lambda: now[0]
        )
        await verifier.verify(_mint(rsa_key))
        published["keys"].append(public_jwk(next_key))  # pre-published, not yet signing
        now[0] += 2.5  # the cache has aged past jwks_ttl, well inside the 30 s throttle
        await verifier.verify(_mint(rsa_key))
        assert fetches == 2
        assert (await verifier.verify(_mint(next_key))).kid == "rsa-next"
        assert fetches == 2  # known already: no refresh for the new kid

    asyncio.run(scenario())


def test_a_failed_refresh_is_retried_only_after_the_throttle(rsa_key: SigningKey) -> None:
    now = [1000.0]
    fetches = 0
    down = [False]

    async def fetch() -> Mapping[str, Any]:
        nonlocal fetches
        fetches += 1
        if down[0]:
            raise OSError("auth is down")
        return {"keys": [public_jwk(rsa_key)]}

    async def scenario() -> None:
        verifier = Verifier(
            fetch, ISS, AUD, jwks_ttl=2, min_refresh_interval=5, clock=lambda: now[0]
        )
        token = _mint(rsa_key)
        await verifier.verify(token)
        down[0] = True
        now[0] += 3
        for _ in range(10):  # the cached keys keep serving while auth is away
            assert (await verifier.verify(token)).user_id == 42
        assert fetches == 2
        now[0] += 5
        await verifier.verify(token)
        assert fetches == 3

    asyncio.run(scenario())
