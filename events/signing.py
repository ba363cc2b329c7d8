"""Events signed by auth: a detached JWS over the CloudEvent, with the keys and kid of tokens.

The signature travels in the CloudEvents extension attribute `jws`, so the message stays a
readable CloudEvent. It is a compact JWS with the payload left out (RFC 7515, appendix F); the
payload is the event's attributes without `jws`, serialised canonically (sorted keys, no spaces,
UTF-8: RFC 8785 for the ASCII keys and integer values events carry). `typ` differs from tokens'
`at+jwt`, so an event signature is never accepted as a token, nor a token as an event signature.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import jwt
from jwt import api_jws

from common.tokens import SigningKey, TokenError, unverified_kid
from events.model import CloudEvent, InvalidEvent

SIGNATURE = "jws"
SIGNATURE_TYPE = "cloudevent+jws"

KeyLookup = Callable[[str], Awaitable[jwt.PyJWK | None]]
Signer = Callable[[CloudEvent], str]
Decoder = Callable[[bytes | str], Awaitable[CloudEvent]]


class RefusedEvent(InvalidEvent):
    """An event that auth did not sign: no signature, a malformed one, or a wrong one."""


def _canonical(attributes: Mapping[str, Any]) -> bytes:
    return json.dumps(
        attributes, sort_keys=True, separators=(",", ":"), ensure_ascii=False
    ).encode()


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


async def verify(raw: bytes | str, keys: KeyLookup) -> CloudEvent:
    """The event, if auth signed exactly these attributes; raises RefusedEvent or InvalidEvent."""
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
        kid = unverified_kid(detached, typ=SIGNATURE_TYPE)
    except TokenError as exc:
        raise RefusedEvent(f"bad signature header: {exc}") from exc
    key = await keys(kid)
    if key is None:
        raise RefusedEvent(f"signed by key {kid!r}, which the JWKS does not publish")
    compact = f"{header}.{_b64(_canonical(attributes))}.{signature}"
    try:
        api_jws.decode_complete(compact, key.key, algorithms=[key.algorithm_name])
    except jwt.PyJWTError as exc:
        raise RefusedEvent(f"wrong signature: {exc}") from exc
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
