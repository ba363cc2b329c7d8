"""Events signed by auth: a detached JWS over the CloudEvent, with the keys and kid of tokens.

The signature travels in the CloudEvents extension attribute `jws`, so the message stays a
readable CloudEvent. It is a compact JWS with the payload left out (RFC 7515, appendix F); the
payload is the event's attributes without `jws`, serialised canonically (sorted keys, no spaces,
UTF-8: RFC 8785 for the ASCII keys and integer values events carry). `typ` differs from tokens'
`at+jwt`, so an event signature is never accepted as a token, nor a token as an event signature.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import jwt
from jwt import api_jws

from common.tokens import SigningKey, TokenError, unverified_kid
from events.model import CloudEvent, InvalidEvent

SIGNATURE = "jws"
SIGNATURE_TYPE = "cloudevent+jws"
HEADER_CACHE = 64  # distinct signature headers remembered: one per signing key is the norm

KeyLookup = Callable[[str], Awaitable[jwt.PyJWK | None]]
Signer = Callable[[CloudEvent], str]
Decoder = Callable[[bytes | str], Awaitable[CloudEvent]]


class RefusedEvent(InvalidEvent):
    """An event that auth did not sign: no signature, a malformed one, or a wrong one."""


# One encoder for every event: json.dumps would build a new one per call with these options.
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _canonical(attributes: Mapping[str, Any]) -> bytes:
    return _CANONICAL.encode(attributes).encode()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def sign(event: CloudEvent, key: SigningKey) -> str:
    """The event's JSON with a `jws` attribute signed by key."""
    attributes = event.attributes()
    compact = api_jws.encode(
        _canonical(attributes),
        key.private_key,
        algorithm=key.alg,
        headers={"kid": key.kid, "typ": SIGNATURE_TYPE},
    )
    header, _, signature = compact.split(".")
    attributes[SIGNATURE] = f"{header}..{signature}"
    return json.dumps(attributes, separators=(",", ":"), ensure_ascii=False)


def signer(active: Callable[[], SigningKey]) -> Signer:
    """Sign each event with whichever key is active when it is published."""

    def sign_with_active(event: CloudEvent) -> str:
        return sign(event, active())

    return sign_with_active


@functools.lru_cache(maxsize=HEADER_CACHE)
def _signature_header(header: str) -> tuple[str, str]:
    """(kid, alg) of a signature's protected header, checked like a token's header.

    Every event signed with one key carries the same header, so a consumer catching up parses
    it once instead of once per event. At the bound the least recently used header is parsed
    again; a header that fails the check raises and is never cached.
    """
    kid = unverified_kid(f"{header}..", typ=SIGNATURE_TYPE)
    return kid, str(jwt.get_unverified_header(f"{header}..")["alg"])


def _signature_bytes(signature: str) -> bytes:
    """The signature's bytes; anything but unpadded base64url is refused."""
    if "+" in signature or "/" in signature:  # b64decode would take the standard alphabet too
        raise RefusedEvent("wrong signature: not base64url")
    try:
        return base64.b64decode(signature + "=" * (-len(signature) % 4), b"-_", validate=True)
    except (binascii.Error, ValueError) as exc:  # ValueError: a character outside ASCII
        raise RefusedEvent(f"wrong signature: not base64url ({exc})") from exc


async def verify(raw: bytes | str, keys: KeyLookup) -> CloudEvent:
    """The event, if auth signed exactly these attributes; raises RefusedEvent or InvalidEvent.

    The signature is checked with the published key's algorithm directly over
    `header.payload`: PyJWT's decode would parse the cached header again and check the
    re-encoded payload character by character, most of the cost of a verification.
    """
    try:
        attributes = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidEvent(f"not JSON: {exc}") from exc
    if not isinstance(attributes, dict):
        raise InvalidEvent("not a JSON object")
    detached = attributes.pop(SIGNATURE, None)
    if not isinstance(detached, str):
        raise RefusedEvent("unsigned event")
    header, dot, signature = detached.partition("..")
    if not dot or "." in signature:
        raise RefusedEvent("the signature is not a detached compact JWS")
    try:
        kid, alg = _signature_header(header)
    except TokenError as exc:
        raise RefusedEvent(f"bad signature header: {exc}") from exc
    key = await keys(kid)
    if key is None:
        raise RefusedEvent(f"signed by key {kid!r}, which the JWKS does not publish")
    if alg != key.algorithm_name:
        raise RefusedEvent(f"wrong signature: alg {alg!r} is not the key's {key.algorithm_name}")
    signing_input = f"{header}.{_b64(_canonical(attributes))}".encode()
    if not key.Algorithm.verify(signing_input, key.key, _signature_bytes(signature)):
        raise RefusedEvent("wrong signature: Signature verification failed")
    return CloudEvent.from_attributes(attributes)


def verifier(keys: KeyLookup, on_refused: Callable[[], None]) -> Decoder:
    """A decoder for the event readers: verify, and report each refused event."""

    async def decode(raw: bytes | str) -> CloudEvent:
        try:
            return await verify(raw, keys)
        except RefusedEvent:
            on_refused()
            raise

    return decode
