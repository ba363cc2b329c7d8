"""Access tokens (RFC 9068 profile): minting and verification, pure functions with no web or DB."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, TypeGuard

import jwt
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from jwt.algorithms import OKPAlgorithm, RSAAlgorithm

from common.attributes import InvalidAttributes, checked

ALLOWED_ALGS: tuple[str, ...] = ("RS256", "EdDSA")
REQUIRED_CLAIMS: tuple[str, ...] = (
    "iss",
    "sub",
    "user_id",
    "aud",
    "client_id",
    "iat",
    "exp",
    "jti",
)
TOKEN_TYPE = "at+jwt"  # noqa: S105 - a media type, not a secret
MAX_TOKEN_BYTES = 8192
MAX_USER_ID = 2**63 - 1  # a signed 64-bit key in every database we use
MIN_RSA_BITS = 2048
# Header members a JWS may carry only to change how it is read: compression (RFC 8725 3.6),
# critical extensions and unencoded payloads (RFC 7797). No token of ours uses them.
REFUSED_HEADERS: tuple[str, ...] = ("crit", "zip", "b64")

log = logging.getLogger(__name__)

PrivateKey = rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey


class TokenError(Exception):
    """A token that must be refused; `reason` is a short machine-readable code."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


class KeysUnavailable(Exception):
    """No JWKS could be fetched yet (auth unreachable): nothing can be verified for now."""


@dataclass(frozen=True)
class SigningKey:
    """A private signing key with its key id and algorithm."""

    kid: str
    alg: str
    private_key: PrivateKey


@dataclass(frozen=True)
class Claims:
    """The verified claims a service relies on."""

    user_id: int
    sub: str
    client_id: str
    jti: str
    iat: int
    exp: int
    kid: str
    # Attributes packed at login (LAB_TOKEN_CLAIMS) and the version they were read at.
    attributes: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    attributes_version: int | None = None


def generate_private_key(alg: str) -> PrivateKey:
    """A fresh private key for RS256 (RSA 2048) or EdDSA (Ed25519)."""
    if alg == "RS256":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if alg == "EdDSA":
        return ed25519.Ed25519PrivateKey.generate()
    raise ValueError(f"algorithm {alg!r} is not allowed; use one of {ALLOWED_ALGS}")


def public_jwk(key: SigningKey) -> dict[str, Any]:
    """The public half of a signing key as a JWK with kid, alg and use."""
    private = key.private_key
    if isinstance(private, rsa.RSAPrivateKey):
        jwk = RSAAlgorithm.to_jwk(private.public_key(), as_dict=True)
    else:
        jwk = OKPAlgorithm.to_jwk(private.public_key(), as_dict=True)
    jwk.update({"kid": key.kid, "alg": key.alg, "use": "sig"})
    return jwk


def mint_access_token(
    key: SigningKey,
    *,
    user_id: int,
    issuer: str,
    audience: str,
    client_id: str,
    ttl: int,
    now: int | None = None,
    attributes: Mapping[str, Any] | None = None,
    attributes_version: int | None = None,
) -> str:
    """Sign an RFC 9068 access token for user_id, packing the given attributes (if any) and
    the version they were read at."""
    iat = int(time.time()) if now is None else now
    claims = {
        "iss": issuer,
        "sub": str(user_id),
        "user_id": user_id,
        "aud": audience,
        "client_id": client_id,
        "iat": iat,
        "exp": iat + ttl,
        "jti": uuid.uuid4().hex,
    }
    if attributes_version is not None:
        claims.update(attributes or {})
        claims["attributes_version"] = attributes_version
    return jwt.encode(
        claims, key.private_key, algorithm=key.alg, headers={"kid": key.kid, "typ": TOKEN_TYPE}
    )


def keys_from_jwks(jwks: Mapping[str, Any]) -> dict[str, jwt.PyJWK]:
    """Parse a JWKS into kid -> key, skipping keys that are not allowed or not usable."""
    keys: dict[str, jwt.PyJWK] = {}
    for raw in jwks.get("keys", []) if isinstance(jwks, Mapping) else []:
        if not isinstance(raw, Mapping):
            continue
        kid, alg = raw.get("kid"), raw.get("alg")
        if not isinstance(kid, str) or alg not in ALLOWED_ALGS or raw.get("use", "sig") != "sig":
            continue
        try:
            key = jwt.PyJWK(dict(raw), algorithm=alg)
        except (jwt.PyJWTError, ValueError, TypeError):
            continue
        if isinstance(key.key, rsa.RSAPublicKey) and key.key.key_size < MIN_RSA_BITS:
            continue  # a weak key would make every token it signs forgeable
        keys[kid] = key
    return keys


def unverified_kid(token: str, *, typ: str = TOKEN_TYPE) -> str:
    """Read and sanity-check the header (typ: at+jwt, or the given one); return its kid.
    Raises TokenError."""
    if not token or len(token) > MAX_TOKEN_BYTES:
        raise TokenError("malformed", "empty or oversized token")
    try:
        header = jwt.get_unverified_header(token)
    except (jwt.PyJWTError, ValueError) as exc:  # UnicodeError too: lone surrogates
        raise TokenError("malformed", str(exc)) from exc
    if header.get("alg") not in ALLOWED_ALGS:
        raise TokenError("bad_alg", f"alg {header.get('alg')!r} is not allowed")
    if str(header.get("typ", "")).lower() not in (typ, "application/" + typ):
        raise TokenError("bad_typ", f"typ must be {typ}")
    refused = [name for name in REFUSED_HEADERS if name in header]
    if refused:
        raise TokenError("bad_header", f"{refused[0]} is not supported")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise TokenError("no_kid", "kid is required")
    return kid


def verify_token(
    token: str,
    keys: Mapping[str, jwt.PyJWK],
    *,
    issuer: str,
    audience: str,
    max_lifetime: int,
    leeway: int,
    now: float | None = None,
) -> Claims:
    """Verify signature and claims against the given keys only: `iat`, `nbf` and `exp` with
    `leeway` seconds of clock skew, and a lifetime (`exp - iat`) of at most `max_lifetime`,
    the longest auth issues. Raises TokenError."""
    kid = unverified_kid(token)
    key = keys.get(kid)
    if key is None:
        raise TokenError("unknown_kid", f"no key {kid!r} in the JWKS")
    header_alg = jwt.get_unverified_header(token).get("alg")
    if header_alg != key.algorithm_name:
        raise TokenError("bad_alg", "token alg does not match its key")
    try:
        payload = jwt.decode(
            token,
            key.key,
            algorithms=[key.algorithm_name],
            audience=audience,
            issuer=issuer,
            # the times are checked below, against one clock (`now`) and one leeway
            options={
                "require": list(REQUIRED_CLAIMS),
                "verify_exp": False,
                "verify_nbf": False,
                "verify_iat": False,
            },
        )
    except (jwt.PyJWTError, ValueError, TypeError, OverflowError) as exc:
        raise TokenError("invalid", str(exc)) from exc
    claims = _claims(payload, kid)
    _check_times(payload, claims, time.time() if now is None else now, max_lifetime, leeway)
    return claims


def _check_times(
    payload: Mapping[str, Any], claims: Claims, now: float, max_lifetime: int, leeway: int
) -> None:
    """Refuse a token issued in the future, not valid yet, expired, or living longer than any
    token auth issues: one signed with a stolen key would otherwise last as long as its maker
    chose."""
    if claims.iat > now + leeway:
        raise TokenError("iat_in_future", f"issued {claims.iat - now:.0f}s from now")
    nbf = payload.get("nbf")
    if nbf is not None:
        if not _integer(nbf):
            raise TokenError("invalid", "nbf must be an integer")
        if nbf > now + leeway:
            raise TokenError("invalid", "the token is not valid yet (nbf)")
    if claims.exp <= now - leeway:
        raise TokenError("expired", "token has expired")
    if claims.exp - claims.iat > max_lifetime:
        raise TokenError(
            "lifetime_too_long", f"exp - iat is {claims.exp - claims.iat}s, over {max_lifetime}s"
        )


def _claims(payload: Mapping[str, Any], kid: str) -> Claims:
    user_id = payload.get("user_id")
    if not isinstance(user_id, int) or isinstance(user_id, bool) or not 0 < user_id <= MAX_USER_ID:
        raise TokenError("invalid", "user_id must be a positive 64-bit integer")
    if payload.get("sub") != str(user_id):
        raise TokenError("invalid", "sub must equal user_id")
    for name in ("client_id", "jti"):
        if not isinstance(payload.get(name), str):
            raise TokenError("invalid", f"{name} must be a string")
    exp, iat = payload.get("exp"), payload.get("iat")
    if not _integer(exp) or not _integer(iat):
        raise TokenError("invalid", "exp and iat must be integers")
    attributes, version = _attributes(payload)
    return Claims(
        user_id=user_id,
        sub=payload["sub"],
        client_id=payload["client_id"],
        jti=payload["jti"],
        iat=iat,
        exp=exp,
        kid=kid,
        attributes=MappingProxyType(attributes),
        attributes_version=version,
    )


def _integer(value: Any) -> TypeGuard[int]:
    """An int that is not a bool (JSON true is no timestamp or id)."""
    return isinstance(value, int) and not isinstance(value, bool)


def _attributes(payload: Mapping[str, Any]) -> tuple[dict[str, Any], int | None]:
    version = payload.get("attributes_version")
    if version is None:
        return {}, None
    if not isinstance(version, int) or isinstance(version, bool) or not 0 < version <= MAX_USER_ID:
        raise TokenError("invalid", "attributes_version must be a positive integer")
    try:
        return checked(payload), version
    except InvalidAttributes as exc:
        raise TokenError("invalid", f"packed attribute: {exc}") from exc


JwksFetcher = Callable[[], Awaitable[Mapping[str, Any]]]


@dataclass
class Verifier:
    """Verifies tokens against a cached JWKS, with a bounded cache of verified tokens.

    The token cache keeps the `cache_size` most recently used tokens (LAB_TOKEN_CACHE_SIZE;
    0: none) and drops a token once it expires or its key is no longer published. A token
    forgotten at the bound is verified again on its next use. Tokens are checked with
    `leeway` seconds of clock skew (LAB_CLOCK_LEEWAY) and refused when they live longer than
    `max_lifetime` (LAB_TOKEN_TTL, the lifetime of every token auth issues)."""

    fetch_jwks: JwksFetcher
    issuer: str
    audience: str
    max_lifetime: int
    leeway: int
    jwks_ttl: float = 60.0
    min_refresh_interval: float = 5.0
    cache_size: int = 10_000
    clock: Callable[[], float] = time.time
    _keys: dict[str, jwt.PyJWK] = field(default_factory=dict)
    _fetched_at: float = float("-inf")
    _attempted_at: float = float("-inf")
    _failed: bool = False
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _verified: OrderedDict[str, Claims] = field(default_factory=OrderedDict)
    # Applied to a token before verification: opens an encrypted one (common.sealed.opener).
    unwrap: Callable[[str], str] = field(default=lambda token: token)
    refreshes: int = 0
    cache_hits: int = 0

    @property
    def cached_tokens(self) -> int:
        """How many verified tokens the cache holds now."""
        return len(self._verified)

    async def verify(self, token: str) -> Claims:
        """Verify a token; the cache honours exp and drops tokens of keys no longer published."""
        now = self.clock()
        if now - self._fetched_at > self.jwks_ttl:
            await self._refresh(now, force=False)
        cached = self._verified.get(token)
        if cached is not None:
            if cached.exp > now - self.leeway and cached.kid in self._keys:
                self._verified.move_to_end(token)
                self.cache_hits += 1
                return cached
            self._verified.pop(token, None)
        inner = self.unwrap(token)
        kid = unverified_kid(inner)
        if kid not in self._keys:
            await self._refresh(now, force=True)
        claims = verify_token(
            inner,
            self._keys,
            issuer=self.issuer,
            audience=self.audience,
            max_lifetime=self.max_lifetime,
            leeway=self.leeway,
            now=now,
        )
        if self.cache_size > 0:
            self._verified[token] = claims  # keyed by what the client sent: decrypted once
            if len(self._verified) > self.cache_size:
                self._verified.popitem(last=False)
        return claims

    async def key(self, kid: str) -> jwt.PyJWK | None:
        """The published key with this kid from the same cached JWKS, refreshed (throttled) when
        the kid is unknown; raises KeysUnavailable while no JWKS could be fetched at all."""
        now = self.clock()
        if kid not in self._keys or now - self._fetched_at > self.jwks_ttl:
            await self._refresh(now, force=kid not in self._keys)
        if self._fetched_at == float("-inf"):
            raise KeysUnavailable("no JWKS fetched yet")
        return self._keys.get(kid)

    async def _refresh(self, now: float, *, force: bool) -> None:
        async with self._lock:
            if not force and now - self._fetched_at <= self.jwks_ttl:
                return  # another call refreshed while this one waited for the lock
            # An unknown kid may be an attacker's, and a failed fetch would be retried by every
            # call: both are throttled. A refresh because the cache aged is not, so a key is
            # known everywhere within jwks_ttl of being published (keys are published that
            # long before they sign).
            throttled = force or self._failed
            if throttled and now - self._attempted_at < self.min_refresh_interval:
                return
            self._attempted_at = now
            try:
                jwks = await self.fetch_jwks()
            # The fetcher is injected (HTTP in consumers, the key files in auth): whatever it
            # raises, keep the keys we have until it answers.
            except Exception as exc:  # noqa: BLE001
                self._failed = True
                log.warning("JWKS refresh failed, keeping %d cached keys: %r", len(self._keys), exc)
                return
            self._failed = False
            self._keys = keys_from_jwks(jwks)
            self._fetched_at = now
            self.refreshes += 1
            for token, claims in list(self._verified.items()):
                if claims.kid not in self._keys:
                    del self._verified[token]
