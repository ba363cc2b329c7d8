"""Event signatures: the shape auth writes, the shapes still accepted, and batch verification."""

from __future__ import annotations

import asyncio
import json

import jwt
import pytest

from common.tokens import SigningKey, generate_private_key, public_jwk
from events import names, signing
from events.model import CloudEvent, InvalidEvent, user_event

pytestmark = pytest.mark.timeout(60)

KEY = SigningKey("k1", "RS256", generate_private_key("RS256"))
OTHER = SigningKey("k1", "RS256", generate_private_key("RS256"))  # same kid, not published
PUBLIC = jwt.PyJWK(public_jwk(KEY), algorithm="RS256")
EVENT = user_event(
    names.USER_REGISTERED, 7, "zoë", attributes={"display_name": "Zoë", "plan": "free"}, version=1
)


async def _keys(kid: str) -> jwt.PyJWK | None:
    return PUBLIC if kid == KEY.kid else None


def _verify(raw: str) -> CloudEvent:
    return asyncio.run(signing.verify(raw, _keys))


def _canonical(attributes: dict[str, object]) -> str:
    return json.dumps(attributes, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def test_auth_writes_the_signature_first_then_the_signed_bytes() -> None:
    message = signing.sign(EVENT, KEY)
    attributes = json.loads(message)
    detached = attributes.pop(signing.SIGNATURE)
    assert message == f'{signing.SIGNED_FIRST}{detached}",{_canonical(attributes)[1:]}'
    assert _verify(message) == EVENT


def test_other_shapes_verify_by_the_canonical_form() -> None:
    attributes = json.loads(signing.sign(EVENT, KEY))
    detached = attributes.pop(signing.SIGNATURE)
    last = json.dumps({**attributes, signing.SIGNATURE: detached})  # the shape auth used to write
    spaced = json.dumps({signing.SIGNATURE: detached, **attributes}, indent=1)
    # auth's shape, but the bytes after the signature escape the ë: they verify only once
    # serialised canonically again
    escaped = json.dumps(attributes, sort_keys=True, separators=(",", ":"))
    assert escaped != _canonical(attributes)
    looks_fast = f'{signing.SIGNED_FIRST}{detached}",{escaped[1:]}'
    for message in (last, spaced, looks_fast):
        assert _verify(message) == EVENT


@pytest.mark.parametrize(
    "change",
    [
        lambda m: m.replace('"username":"zoë"', '"username":"eve"'),
        lambda m: m.replace('"user_id":7', '"user_id":8'),
        lambda m: m.replace('"plan":"free"', '"plan":"pro"'),
        lambda m: m[:-1] + ',"extra":1}',
    ],
)
def test_changed_bytes_after_the_signature_are_refused(change: object) -> None:
    message = signing.sign(EVENT, KEY)
    changed = change(message)  # type: ignore[operator]
    assert changed != message
    with pytest.raises(signing.RefusedEvent):
        _verify(changed)


@pytest.mark.parametrize(
    "raw",
    [
        '{"jws":"x..y",not json',
        '{"jws":"e30..AAAA",',
        '{"jws":"',
        '{"jws":"a.b.c","id":"1"}',
        '{"jws":"e30..+/+/","id":"1"}',
    ],
)
def test_broken_messages_in_auths_shape_are_invalid(raw: str) -> None:
    with pytest.raises(InvalidEvent):
        _verify(raw)


def test_a_signature_must_be_unpadded_base64url() -> None:
    message = signing.sign(EVENT, KEY)
    head, _, tail = message.partition('",')
    for bad in ("=", "+", "/", "*", "é"):
        with pytest.raises(signing.RefusedEvent, match="base64url"):
            _verify(f'{head[:-2]}{bad}{head[-2:]}",{tail}')


def test_many_at_once_give_what_one_at_a_time_gives() -> None:
    good = signing.sign(EVENT, KEY)
    messages = [
        good,
        signing.sign(EVENT, OTHER),
        json.dumps({k: v for k, v in json.loads(good).items() if k != signing.SIGNATURE}),
        "{not json",
        signing.sign(EVENT, SigningKey("nobody", "RS256", OTHER.private_key)),
        "[" * 100_000 + "]" * 100_000,  # deep enough to exhaust a recursive parser
        good,
    ]
    outcomes = asyncio.run(signing.verify_many(messages, _keys))
    for message, outcome in zip(messages, outcomes, strict=True):
        try:
            expected: object = _verify(message)
        except InvalidEvent as exc:
            expected = type(exc)
        assert (outcome if isinstance(outcome, CloudEvent) else type(outcome)) == expected
    assert [type(o).__name__ for o in outcomes] == [
        "CloudEvent",
        "RefusedEvent",
        "RefusedEvent",
        "InvalidEvent",
        "RefusedEvent",
        "InvalidEvent",
        "CloudEvent",
    ]


def test_a_failed_key_lookup_is_each_events_outcome_and_asked_once() -> None:
    asked: list[str] = []

    async def failing(kid: str) -> jwt.PyJWK | None:
        asked.append(kid)
        raise ConnectionError("JWKS unreachable")

    messages = [signing.sign(EVENT, KEY)] * 3
    outcomes = asyncio.run(signing.verify_many(messages, failing))
    assert all(isinstance(o, ConnectionError) for o in outcomes)
    assert asked == ["k1"]


TRACED = EVENT.model_copy(
    update={
        "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        "tracestate": "vendor=opaque",
    }
)


def test_the_trace_context_is_signed_and_verifies() -> None:
    message = signing.sign(TRACED, KEY)
    got = _verify(message)
    assert got.traceparent == TRACED.traceparent and got.tracestate == "vendor=opaque"


def test_a_traceparent_changed_on_the_bus_is_refused() -> None:
    message = signing.sign(TRACED, KEY)
    moved = message.replace("0af7651916cd43dd8448eb211c80319c", "f" * 32)
    assert moved != message
    with pytest.raises(signing.RefusedEvent):
        _verify(moved)
    attributes = json.loads(message)
    del attributes["traceparent"]  # stripped, in whatever shape
    with pytest.raises(signing.RefusedEvent):
        _verify(json.dumps(attributes))
