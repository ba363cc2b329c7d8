"""Events signed by auth: a detached JWS over the CloudEvent, with the keys and kid of tokens.

The signature travels in the CloudEvents extension attribute `jws`, so the message stays a
readable CloudEvent. It is a compact JWS with the payload left out (RFC 7515, appendix F); the
payload is the event's attributes without `jws`, serialised canonically (sorted keys, no spaces,
UTF-8: RFC 8785 for the ASCII keys and integer values events carry). `typ` differs from tokens'
`at+jwt`, so an event signature is never accepted as a token, nor a token as an event signature.

Auth writes `jws` first and the canonical attributes after it, byte for byte as signed, so a
verifier checks the bytes it received and parses only bytes that verified; a message in any other
shape is parsed and serialised canonically again before its check, which costs more.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import jwt
from jwt import api_jws

from common.tokens import SigningKey, TokenError, unverified_kid
from events.checking import Check, Checker, here
from events.model import CloudEvent, InvalidEvent

SIGNATURE = "jws"
SIGNATURE_TYPE = "cloudevent+jws"
HEADER_CACHE = 64  # distinct signature headers remembered: one per signing key is the norm
SIGNED_FIRST = '{"jws":"'  # how every message auth signs begins
_URLSAFE = bytes.maketrans(b"-_", b"+/")

KeyLookup = Callable[[str], Awaitable[jwt.PyJWK | None]]
Signer = Callable[[CloudEvent], str]
Decoder = Callable[[bytes | str], Awaitable[CloudEvent]]
# Each message's event, or the InvalidEvent (RefusedEvent included) or lookup failure it raised.
BatchDecoder = Callable[[Sequence[str]], Awaitable[list["CloudEvent | Exception"]]]


class RefusedEvent(InvalidEvent):
    """An event that auth did not sign: no signature, a malformed one, or a wrong one."""


# One encoder for every event: json.dumps would build a new one per call with these options.
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _canonical(attributes: Mapping[str, Any]) -> bytes:
    return _CANONICAL.encode(attributes).encode()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def sign(event: CloudEvent, key: SigningKey) -> str:
    """The event's JSON: a `jws` attribute signed by key, then the attributes exactly as signed."""
    payload = _canonical(event.attributes())
    compact = api_jws.encode(
        payload,
        key.private_key,
        algorithm=key.alg,
        headers={"kid": key.kid, "typ": SIGNATURE_TYPE},
    )
    header, _, signature = compact.split(".")
    return f'{SIGNED_FIRST}{header}..{signature}",{payload.decode()[1:]}'


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
    if "+" in signature or "/" in signature or "=" in signature:
        raise RefusedEvent("wrong signature: not base64url")
    try:
        padded = signature.encode("ascii") + b"=" * (-len(signature) % 4)
        return binascii.a2b_base64(padded.translate(_URLSAFE), strict_mode=True)
    except (binascii.Error, ValueError) as exc:  # ValueError: a character outside ASCII
        raise RefusedEvent(f"wrong signature: not base64url ({exc})") from exc


@dataclass(slots=True)  # not frozen: a frozen dataclass is slow to build, one per event
class _Signed:
    """A message taken apart: the signature's header and value, and what they sign."""

    header: str
    signature: str
    payload: bytes | None  # the signed bytes as they travelled, when auth's shape carries them
    attributes: dict[str, Any] | None  # otherwise the decoded attributes, `jws` removed

    def decoded(self) -> dict[str, Any]:
        """The signed attributes as JSON values."""
        return self.attributes if self.attributes is not None else _decoded(self.payload or b"")


def _detached(value: str) -> tuple[str, str]:
    header, dot, signature = value.partition("..")
    if not dot or "." in signature:
        raise RefusedEvent("the signature is not a detached compact JWS")
    return header, signature


def _decoded(text: str | bytes) -> dict[str, Any]:
    try:
        attributes = json.loads(text)
    except ValueError as exc:  # UnicodeDecodeError included
        raise InvalidEvent(f"not JSON: {exc}") from exc
    except RecursionError as exc:
        raise InvalidEvent("not JSON: nested too deeply") from exc
    if not isinstance(attributes, dict):
        raise InvalidEvent("not a JSON object")
    return attributes


def _split(raw: bytes | str) -> _Signed:
    """The message's parts; raises InvalidEvent for what is not JSON, RefusedEvent if unsigned."""
    try:
        text = raw.decode() if isinstance(raw, bytes) else raw
    except UnicodeDecodeError as exc:
        raise InvalidEvent(f"not JSON: {exc}") from exc
    if text.startswith(SIGNED_FIRST):
        end = text.find('",', len(SIGNED_FIRST))
        if end > 0:
            header, signature = _detached(text[len(SIGNED_FIRST) : end])
            return _Signed(header, signature, ("{" + text[end + 2 :]).encode(), None)
    attributes = _decoded(text)
    detached = attributes.pop(SIGNATURE, None)
    if not isinstance(detached, str):
        raise RefusedEvent("unsigned event")
    header, signature = _detached(detached)
    return _Signed(header, signature, None, attributes)


def _kid(signed: _Signed) -> str:
    try:
        return _signature_header(signed.header)[0]
    except TokenError as exc:
        raise RefusedEvent(f"bad signature header: {exc}") from exc


@dataclass(slots=True)  # not frozen: a frozen dataclass is slow to build, one per event
class _Candidate:
    """A message, and the signature check that decides whether it is authentic."""

    signed: _Signed
    check: Check


def _check(signed: _Signed, key: jwt.PyJWK | None) -> _Candidate:
    """What to check for a message and the key its kid names; RefusedEvent if it cannot pass."""
    kid, alg = _signature_header(signed.header)
    if key is None:
        raise RefusedEvent(f"signed by key {kid!r}, which the JWKS does not publish")
    if alg != key.algorithm_name:
        raise RefusedEvent(f"wrong signature: alg {alg!r} is not the key's {key.algorithm_name}")
    payload = signed.payload if signed.payload is not None else _canonical(signed.decoded())
    signing_input = f"{signed.header}.{_b64(payload)}".encode()
    return _Candidate(signed, Check(key, signing_input, _signature_bytes(signed.signature)))


def _event(check: _Candidate, passed: bool) -> CloudEvent:
    """The event of a checked message; RefusedEvent unless its signature passed."""
    signed = check.signed
    if passed:
        if signed.payload is not None:
            return CloudEvent.parse(signed.payload)  # exactly the bytes that verified
        return CloudEvent.from_attributes(signed.decoded())
    if signed.payload is not None:
        # Not the bytes auth signed (re-serialised on the way?): the signature still holds if
        # it covers the canonical form of the attributes they carry.
        again = _Signed(signed.header, signed.signature, None, signed.decoded())
        retry = _check(again, check.check.key)
        return _event(retry, retry.check.passes())
    raise RefusedEvent("wrong signature: Signature verification failed")


async def verify(raw: bytes | str, keys: KeyLookup) -> CloudEvent:
    """The event, if auth signed exactly these attributes; raises RefusedEvent or InvalidEvent.

    The signature is checked with the published key's algorithm directly over
    `header.payload`: PyJWT's decode would parse the cached header again and check the
    re-encoded payload character by character, most of the cost of a verification.
    """
    signed = _split(raw)
    check = _check(signed, await keys(_kid(signed)))
    return _event(check, check.check.passes())


async def verify_many(
    raws: Sequence[str], keys: KeyLookup, checker: Checker = here
) -> list[CloudEvent | Exception]:
    """Each message's event or the exception its check raised, in order; the signatures are
    checked all at once by `checker` (in child processes for a large batch, say)."""
    prepared: list[_Candidate | Exception] = []
    found: dict[str, jwt.PyJWK | None] = {}
    failed: dict[str, Exception] = {}
    for raw in raws:
        try:
            signed = _split(raw)
            kid = _kid(signed)
            if kid not in found and kid not in failed:  # one lookup per key, not per event
                try:
                    found[kid] = await keys(kid)
                except Exception as exc:  # noqa: BLE001 - every event of that key is retried
                    failed[kid] = exc
            prepared.append(failed[kid] if kid in failed else _check(signed, found[kid]))
        except Exception as exc:  # noqa: BLE001 - that message's outcome; the rest go on
            prepared.append(exc)
    checks = [one.check for one in prepared if isinstance(one, _Candidate)]
    passed = iter(await checker(checks))
    outcomes: list[CloudEvent | Exception] = []
    for one in prepared:
        if isinstance(one, Exception):
            outcomes.append(one)
            continue
        try:
            outcomes.append(_event(one, next(passed)))
        except Exception as exc:  # noqa: BLE001 - that message's outcome; the rest go on
            outcomes.append(exc)
    return outcomes


def verifier(keys: KeyLookup, on_refused: Callable[[], None]) -> Decoder:
    """A decoder for the event readers: verify, and report each refused event."""

    async def decode(raw: bytes | str) -> CloudEvent:
        try:
            return await verify(raw, keys)
        except RefusedEvent:
            on_refused()
            raise

    return decode


def batch_verifier(
    keys: KeyLookup, on_refused: Callable[[], None], checker: Checker = here
) -> BatchDecoder:
    """A batch decoder for the stream reader: verify many, and report each refused event."""

    async def decode_many(raws: Sequence[str]) -> list[CloudEvent | Exception]:
        outcomes = await verify_many(raws, keys, checker)
        for outcome in outcomes:
            if isinstance(outcome, RefusedEvent):
                on_refused()
        return outcomes

    return decode_many
