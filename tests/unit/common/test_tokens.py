"""Token minting and verification: the allow-list, required claims and hostile tokens."""

from __future__ import annotations

import asyncio
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
    public_jwk,
    verify_token,
)
from tests.unit.common.token_support import (
    AUD,
    ISS,
    LEEWAY,
    MAX_LIFETIME,
    Jwks,
    b64,
    forge,
    mint,
    refused,
    sign_raw,
    valid_claims,
)


@pytest.fixture(scope="module")
def rsa_key() -> SigningKey:
    return SigningKey("rsa-1", "RS256", generate_private_key("RS256"))


@pytest.fixture(scope="module")
def ed_key() -> SigningKey:
    return SigningKey("ed-1", "EdDSA", generate_private_key("EdDSA"))


def test_round_trip_both_algorithms(rsa_key: SigningKey, ed_key: SigningKey) -> None:
    keys = keys_from_jwks({"keys": [public_jwk(rsa_key), public_jwk(ed_key)]})
    for key in (rsa_key, ed_key):
        token = mint(key)
        header = jwt.get_unverified_header(token)
        assert header == {"alg": key.alg, "kid": key.kid, "typ": "at+jwt"}
        claims = verify_token(
            token, keys, issuer=ISS, audience=AUD, max_lifetime=MAX_LIFETIME, leeway=LEEWAY
        )
        assert (claims.user_id, claims.sub, claims.kid) == (42, "42", key.kid)


def test_hostile_tokens_are_refused(rsa_key: SigningKey) -> None:
    keys = keys_from_jwks({"keys": [public_jwk(rsa_key)]})
    good = mint(rsa_key)
    head, payload, sig = good.split(".")
    tampered_payload = ".".join(
        [head, b64(json.dumps(valid_claims(user_id=1, sub="1")).encode()), sig]
    )
    flipped = sig[:-4] + ("AAAA" if sig[-4:] != "AAAA" else "BBBB")
    public_pem = rsa_key.private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    import hashlib
    import hmac

    hs_header = {"alg": "HS256", "kid": rsa_key.kid, "typ": "at+jwt"}
    signing_input = (
        f"{b64(json.dumps(hs_header).encode())}.{b64(json.dumps(valid_claims()).encode())}"
    )
    hs_sig = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    hs256 = f"{signing_input}.{b64(hs_sig)}"
    no_exp = jwt.encode(
        {k: v for k, v in valid_claims().items() if k != "exp"},
        rsa_key.private_key,
        algorithm="RS256",
        headers={"kid": rsa_key.kid, "typ": "at+jwt"},
    )
    cases = {
        "tampered payload": tampered_payload,
        "tampered signature": ".".join([head, payload, flipped]),
        "alg none": forge({"alg": "none", "kid": rsa_key.kid, "typ": "at+jwt"}, valid_claims()),
        "HS256 with the public key": hs256,
        "expired": mint(rsa_key, now=int(time.time()) - 120, ttl=60),
        "wrong aud": mint(rsa_key, audience="someone-else"),
        "wrong iss": mint(rsa_key, issuer="https://evil.example"),
        "unknown kid": mint(SigningKey("nope", "RS256", rsa_key.private_key)),
        "missing exp": no_exp,
        "wrong typ": jwt.encode(
            valid_claims(),
            rsa_key.private_key,
            algorithm="RS256",
            headers={"kid": rsa_key.kid, "typ": "JWT"},
        ),
        "garbage": "not-a-jwt",
        "empty": "",
        "oversized": "a" * 20000,
        "sub mismatch": jwt.encode(
            valid_claims(sub="7"),
            rsa_key.private_key,
            algorithm="RS256",
            headers={"kid": rsa_key.kid, "typ": "at+jwt"},
        ),
        "user_id string": jwt.encode(
            valid_claims(user_id="42"),
            rsa_key.private_key,
            algorithm="RS256",
            headers={"kid": rsa_key.kid, "typ": "at+jwt"},
        ),
    }
    for name, token in cases.items():
        reason = refused(token, keys).reason
        assert reason, name
    assert refused(cases["alg none"], keys).reason == "bad_alg"
    assert refused(cases["HS256 with the public key"], keys).reason == "bad_alg"
    assert refused(cases["expired"], keys).reason == "expired"
    assert refused(cases["unknown kid"], keys).reason == "unknown_kid"


def test_jku_and_embedded_jwk_are_never_used(rsa_key: SigningKey) -> None:
    attacker = generate_private_key("RS256")
    evil = SigningKey(rsa_key.kid, "RS256", attacker)
    headers = {
        "kid": rsa_key.kid,
        "typ": "at+jwt",
        "jku": "http://evil/jwks",
        "jwk": public_jwk(evil),
    }
    token = jwt.encode(valid_claims(), attacker, algorithm="RS256", headers=headers)
    keys = keys_from_jwks({"keys": [public_jwk(rsa_key)]})
    assert refused(token, keys).reason == "invalid"


def test_alg_mismatch_between_token_and_key(rsa_key: SigningKey, ed_key: SigningKey) -> None:
    # An EdDSA token whose kid names the RSA key is refused before any signature check.
    token = mint(SigningKey(rsa_key.kid, "EdDSA", ed_key.private_key))
    keys = keys_from_jwks({"keys": [public_jwk(rsa_key)]})
    assert refused(token, keys).reason == "bad_alg"


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
    fetch = Jwks(rsa_key)

    async def scenario() -> None:
        verifier = Verifier(
            fetch, ISS, AUD, MAX_LIFETIME, LEEWAY, jwks_ttl=60, min_refresh_interval=0
        )
        token = mint(rsa_key)
        assert (await verifier.verify(token)).user_id == 42
        assert (await verifier.verify(token)).user_id == 42
        assert verifier.cache_hits == 1 and fetch.fetches == 1
        fetch.keys.append(public_jwk(new_key))
        assert (await verifier.verify(mint(new_key))).kid == "rsa-2"
        assert fetch.fetches == 2
        # Revocation: once the JWKS drops a key, cached tokens of that key are refused.
        fetch.keys = [public_jwk(new_key)]
        verifier._fetched_at = float("-inf")
        with pytest.raises(TokenError):
            await verifier.verify(token)

    asyncio.run(scenario())


def test_verifier_throttles_refresh(rsa_key: SigningKey) -> None:
    fetch = Jwks(rsa_key)

    async def scenario() -> None:
        verifier = Verifier(
            fetch, ISS, AUD, MAX_LIFETIME, LEEWAY, jwks_ttl=60, min_refresh_interval=30
        )
        stranger = mint(SigningKey("unknown", "RS256", rsa_key.private_key))
        for _ in range(20):
            with pytest.raises(TokenError):
                await verifier.verify(stranger)

    asyncio.run(scenario())
    assert fetch.fetches == 1


def test_cached_token_still_expires(rsa_key: SigningKey) -> None:
    now = [time.time()]

    async def fetch() -> Mapping[str, Any]:
        return {"keys": [public_jwk(rsa_key)]}

    async def scenario() -> None:
        verifier = Verifier(
            fetch, ISS, AUD, MAX_LIFETIME, LEEWAY, jwks_ttl=1e9, clock=lambda: now[0]
        )
        token = mint(rsa_key, ttl=5)
        await verifier.verify(token)
        now[0] += 5 + LEEWAY - 1  # expired, but within the clock leeway: still served
        await verifier.verify(token)
        now[0] += 1
        with pytest.raises(TokenError) as info:
            await verifier.verify(token)
        assert info.value.reason == "expired"

    asyncio.run(scenario())


# -- RFC 8725 (JWT best current practices): one named test per attack class that applies ------


def _signed(key: SigningKey, claims: dict[str, Any] | None = None, **header: Any) -> str:
    """A JWS signed by the real key over these claims and header members (None drops one)."""
    fields = {"alg": key.alg, "kid": key.kid, "typ": "at+jwt", **header}
    head = {k: v for k, v in fields.items() if v is not None}
    return sign_raw(key, head, valid_claims() if claims is None else claims)


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE", ""])
def test_rfc8725_2_1_alg_none_in_any_spelling(rsa_key: SigningKey, alg: str) -> None:
    token = forge({"alg": alg, "kid": rsa_key.kid, "typ": "at+jwt"}, valid_claims())
    assert refused(token, keys_from_jwks({"keys": [public_jwk(rsa_key)]})).reason == "bad_alg"


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
            token = jwt.encode(valid_claims(), private, algorithm=alg, headers=head)
        assert refused(token, keys).reason == "bad_alg", alg


def _hmac_token(alg: str, secret: bytes, head: dict[str, Any]) -> str:
    import hashlib
    import hmac

    digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}[alg]
    header = b64(json.dumps({"alg": alg, **head}).encode())
    signing_input = f"{header}.{b64(json.dumps(valid_claims()).encode())}"
    return f"{signing_input}.{b64(hmac.new(secret, signing_input.encode(), digest).digest())}"


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
def test_rfc8725_3_2_weak_rsa_key_in_the_jwks_is_never_used() -> None:
    from cryptography.hazmat.primitives.asymmetric import rsa

    weak = SigningKey("weak", "RS256", rsa.generate_private_key(65537, 1024))  # noqa: S505
    keys = keys_from_jwks({"keys": [public_jwk(weak)]})
    assert keys == {}
    assert refused(mint(weak), keys).reason == "unknown_kid"


def test_rfc8725_2_3_an_encrypted_token_is_not_taken_for_a_signed_one(rsa_key: SigningKey) -> None:
    # Compact JWE has five parts; the verifier accepts only a JWS and never decrypts.
    header = b64(json.dumps({"alg": "RSA-OAEP-256", "enc": "A256GCM", "kid": rsa_key.kid}).encode())
    jwe = ".".join([header, b64(b"k" * 256), b64(b"iv" * 6), b64(b"ct"), b64(b"t" * 16)])
    assert refused(jwe, keys_from_jwks({"keys": [public_jwk(rsa_key)]})).reason == "malformed"


def test_rfc8725_2_6_json_encoding_tricks(rsa_key: SigningKey) -> None:
    keys = keys_from_jwks({"keys": [public_jwk(rsa_key)]})
    good = mint(rsa_key)
    _, payload, sig = good.split(".")
    duplicate = '{"alg":"RS256","typ":"at+jwt","kid":"KID","alg":"none"}'.replace(
        "KID", rsa_key.kid
    )
    not_utf8 = b'{"alg":"RS256","typ":"at+jwt","kid":"\xff\xfe"}'
    assert refused(".".join([b64(duplicate.encode()), payload, sig]), keys).reason == "bad_alg"
    assert refused(".".join([b64(not_utf8), payload, sig]), keys).reason == "malformed"
    assert refused(".".join([b64(b"[1, 2]"), payload, sig]), keys).reason == "malformed"


def test_rfc8725_2_7_substitution_of_header_or_signature(
    rsa_key: SigningKey, ed_key: SigningKey
) -> None:
    other = SigningKey("rsa-2", "RS256", generate_private_key("RS256"))
    keys = keys_from_jwks({"keys": [public_jwk(rsa_key), public_jwk(other)]})
    mine, theirs = mint(rsa_key, user_id=1), mint(other, user_id=2)
    m, t = mine.split("."), theirs.split(".")
    assert (
        refused(".".join([t[0], m[1], m[2]]), keys).reason == "invalid"
    )  # header names the other key
    assert refused(".".join([m[0], t[1], m[2]]), keys).reason == "invalid"  # someone else's claims
    assert (
        refused(".".join([m[0], m[1], t[2]]), keys).reason == "invalid"
    )  # someone else's signature


@pytest.mark.parametrize(
    "typ", ["JWT", "secevent+jwt", "dpop+jwt", "application/jwt", "at+jwt ", None]
)
def test_rfc8725_2_8_cross_jwt_confusion_by_type(rsa_key: SigningKey, typ: str | None) -> None:
    # Another kind of JWT signed by the very same key (an event, a proof) is not an access token.
    token = _signed(rsa_key, typ=typ)
    assert refused(token, keys_from_jwks({"keys": [public_jwk(rsa_key)]})).reason == "bad_typ"


def test_rfc8725_2_8_cross_jwt_confusion_by_audience(rsa_key: SigningKey) -> None:
    keys = keys_from_jwks({"keys": [public_jwk(rsa_key)]})
    for aud in (["other-api"], [], "discovery-lab-admin", None):
        token = _signed(rsa_key, valid_claims(aud=aud))
        assert refused(token, keys).reason == "invalid", aud
    accepted = verify_token(
        _signed(rsa_key, valid_claims(aud=["x", AUD])),
        keys,
        issuer=ISS,
        audience=AUD,
        max_lifetime=MAX_LIFETIME,
        leeway=LEEWAY,
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
    fetch = Jwks(rsa_key)

    async def scenario() -> str:
        verifier = Verifier(fetch, ISS, AUD, MAX_LIFETIME, LEEWAY, min_refresh_interval=60)
        with pytest.raises(TokenError) as info:
            await verifier.verify(_signed(rsa_key, kid=kid))
        for _ in range(5):  # repeated hostile kids never become a fetch storm
            with pytest.raises(TokenError):
                await verifier.verify(_signed(rsa_key, kid=kid))
        return info.value.reason

    reason = asyncio.run(scenario())
    assert reason in {"unknown_kid", "no_kid", "malformed"}
    assert fetch.fetches == 1


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
    fetch = Jwks(rsa_key)

    async def scenario() -> str:
        verifier = Verifier(fetch, ISS, AUD, MAX_LIFETIME, LEEWAY)
        with pytest.raises(TokenError) as info:
            await verifier.verify(_signed(attacker, **{member: values[member]}))
        return info.value.reason

    assert asyncio.run(scenario()) == "invalid"
    assert fetch.fetches == 1  # only the configured JWKS, once


def test_rfc8725_3_10_a_foreign_issuer_is_refused_not_followed(rsa_key: SigningKey) -> None:
    keys = keys_from_jwks({"keys": [public_jwk(rsa_key)]})
    for iss in ("http://127.0.0.1:1/auth", ISS + "/", ISS.upper(), ["x", ISS], None):
        assert refused(_signed(rsa_key, valid_claims(iss=iss)), keys).reason == "invalid", iss


def test_rfc8725_3_6_compressed_and_oversized_input(rsa_key: SigningKey) -> None:
    import zlib

    keys = keys_from_jwks({"keys": [public_jwk(rsa_key)]})
    bomb = zlib.compress(json.dumps({**valid_claims(), "pad": "0" * 1_000_000}).encode(), 9)
    head = b64(
        json.dumps({"alg": "RS256", "typ": "at+jwt", "kid": rsa_key.kid, "zip": "DEF"}).encode()
    )
    signature = jwt.get_algorithm_by_name("RS256").sign(
        f"{head}.{b64(bomb)}".encode(), rsa_key.private_key
    )
    assert refused(f"{head}.{b64(bomb)}.{b64(signature)}", keys).reason == "bad_header"
    assert refused(_signed(rsa_key, zip="DEF"), keys).reason == "bad_header"
    for member in ({"crit": ["exp"]}, {"b64": False}):  # PyJWT itself may refuse these first
        assert refused(_signed(rsa_key, **member), keys).reason in {"bad_header", "malformed"}
    big = _signed(rsa_key, valid_claims(pad="x" * 9000))  # validly signed, over the size bound
    assert refused(big, keys).reason == "malformed"
    assert refused("." * 9000, keys).reason == "malformed"


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
    assert refused(_signed(rsa_key, valid_claims(**change)), keys).reason in {"invalid", "expired"}


@pytest.mark.parametrize(
    "claim", ["iss", "sub", "user_id", "aud", "client_id", "iat", "exp", "jti"]
)
def test_rfc8725_every_required_claim_is_required(rsa_key: SigningKey, claim: str) -> None:
    claims = {k: v for k, v in valid_claims().items() if k != claim}
    assert (
        refused(_signed(rsa_key, claims), keys_from_jwks({"keys": [public_jwk(rsa_key)]})).reason
        == "invalid"
    )


def test_an_aged_cache_refreshes_even_inside_the_unknown_kid_throttle(
    rsa_key: SigningKey,
) -> None:
    """A key published jwks_ttl before it signs is known by then, whatever the throttle."""
    now = [time.time()]
    next_key = SigningKey("rsa-next", "RS256", generate_private_key("RS256"))
    fetch = Jwks(rsa_key)

    async def scenario() -> None:
        verifier = Verifier(
            fetch,
            ISS,
            AUD,
            MAX_LIFETIME,
            LEEWAY,
            jwks_ttl=2,
            min_refresh_interval=30,
            clock=lambda: now[0],
        )
        await verifier.verify(mint(rsa_key))
        fetch.keys.append(public_jwk(next_key))  # pre-published, not yet signing
        now[0] += 2.5  # the cache has aged past jwks_ttl, well inside the 30 s throttle
        await verifier.verify(mint(rsa_key))
        assert fetch.fetches == 2
        assert (await verifier.verify(mint(next_key))).kid == "rsa-next"
        assert fetch.fetches == 2  # known already: no refresh for the new kid

    asyncio.run(scenario())


def test_a_failed_refresh_is_retried_only_after_the_throttle(rsa_key: SigningKey) -> None:
    now = [time.time()]
    fetch = Jwks(rsa_key)

    async def scenario() -> None:
        verifier = Verifier(
            fetch,
            ISS,
            AUD,
            MAX_LIFETIME,
            LEEWAY,
            jwks_ttl=2,
            min_refresh_interval=5,
            clock=lambda: now[0],
        )
        token = mint(rsa_key)
        await verifier.verify(token)
        fetch.down = True
        now[0] += 3
        for _ in range(10):  # the cached keys keep serving while auth is away
            assert (await verifier.verify(token)).user_id == 42
        assert fetch.fetches == 2
        now[0] += 5
        await verifier.verify(token)
        assert fetch.fetches == 3

    asyncio.run(scenario())


# -- times: iat, nbf and exp with the clock leeway; no lifetime longer than auth issues -------

NOW = 1_900_000_000  # a fixed clock, so each boundary is exact


def _checked(key: SigningKey, *, leeway: int = LEEWAY, **claims: Any) -> str:
    """The reason a token with these claims is refused at NOW, or "ok"."""
    token = _signed(key, valid_claims(**{"iat": NOW, "exp": NOW + 60, **claims}))
    keys = keys_from_jwks({"keys": [public_jwk(key)]})
    try:
        verify_token(
            token,
            keys,
            issuer=ISS,
            audience=AUD,
            max_lifetime=MAX_LIFETIME,
            leeway=leeway,
            now=NOW,
        )
    except TokenError as exc:
        return exc.reason
    return "ok"


def test_an_iat_in_the_future_is_refused_beyond_the_leeway(rsa_key: SigningKey) -> None:
    ahead = NOW + LEEWAY
    assert _checked(rsa_key, iat=ahead, exp=ahead + 60) == "ok"  # exactly at the leeway
    assert _checked(rsa_key, iat=ahead + 1, exp=ahead + 61) == "iat_in_future"
    assert _checked(rsa_key, iat=NOW + 1, exp=NOW + 61, leeway=0) == "iat_in_future"
    assert _checked(rsa_key, iat=NOW, exp=NOW + 60, leeway=0) == "ok"


def test_a_lifetime_longer_than_auth_issues_is_refused(rsa_key: SigningKey) -> None:
    assert _checked(rsa_key, exp=NOW + MAX_LIFETIME) == "ok"  # what auth issues
    assert _checked(rsa_key, exp=NOW + MAX_LIFETIME + 1) == "lifetime_too_long"
    # An old iat does not buy a longer life: the lifetime is exp - iat, whatever the clock says.
    assert _checked(rsa_key, iat=NOW - 10, exp=NOW + MAX_LIFETIME - 9) == "lifetime_too_long"
    for huge in (2**31, 2**63 - 1, 2**64, 10**30):
        assert _checked(rsa_key, exp=huge) == "lifetime_too_long"


def test_exp_and_nbf_take_the_same_leeway(rsa_key: SigningKey) -> None:
    old = NOW - 100
    assert _checked(rsa_key, iat=old, exp=NOW - LEEWAY + 1) == "ok"  # within the leeway
    assert _checked(rsa_key, iat=old, exp=NOW - LEEWAY) == "expired"
    assert _checked(rsa_key, iat=old, exp=NOW, leeway=0) == "expired"
    assert _checked(rsa_key, nbf=NOW + LEEWAY) == "ok"
    assert _checked(rsa_key, nbf=NOW + LEEWAY + 1) == "invalid"
    assert _checked(rsa_key, nbf=float(NOW)) == "invalid"  # not an integer


def test_the_verifier_applies_its_lifetime_and_leeway(rsa_key: SigningKey) -> None:
    async def scenario() -> None:
        verifier = Verifier(Jwks(rsa_key), ISS, AUD, max_lifetime=60, leeway=5)
        assert (await verifier.verify(mint(rsa_key, ttl=60))).user_id == 42
        with pytest.raises(TokenError) as info:
            await verifier.verify(mint(rsa_key, ttl=61))
        assert info.value.reason == "lifetime_too_long"
        with pytest.raises(TokenError) as info:
            await verifier.verify(mint(rsa_key, now=int(time.time()) + 7, ttl=30))
        assert info.value.reason == "iat_in_future"

    asyncio.run(scenario())
