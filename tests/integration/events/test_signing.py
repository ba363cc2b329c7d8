"""Signed events: auth's signature verifies; anything else is refused, counted, dead-lettered."""

from __future__ import annotations

import asyncio
import json

import jwt
import pytest
import valkey.asyncio as avalkey

from common.tokens import SigningKey, generate_private_key, mint_access_token
from events import names, signing
from events.model import CloudEvent, InvalidEvent, user_event
from events.streams import StreamConsumer, append
from tests.integration.events.helpers import KEY, Collector, decode, keys, probe, running, signed
from tests.support import ValkeyProc, await_for

EVENT = user_event(names.USER_REGISTERED, 7, "ann")
IMPOSTOR = SigningKey(kid=KEY.kid, alg="EdDSA", private_key=generate_private_key("EdDSA"))


def _attributes(message: str) -> dict[str, object]:
    data: dict[str, object] = json.loads(message)
    return data


def _forgeries() -> dict[str, str]:
    """Messages auth did not sign, each a different way of trying."""
    genuine = _attributes(signed(EVENT))
    tampered = {**genuine, "data": {"user_id": 8, "username": "mallory"}}
    unsigned = {k: v for k, v in genuine.items() if k != signing.SIGNATURE}
    token = mint_access_token(
        KEY, user_id=8, issuer="i", audience="a", client_id="c", ttl=60
    )  # a real token of the same key: its typ is at+jwt, never an event signature
    header, _, sig = token.split(".")
    none_header = jwt.utils.base64url_encode(b'{"alg":"none","kid":"events-test"}').decode()
    return {
        "unsigned": json.dumps(unsigned),
        "tampered": json.dumps(tampered),
        "other key, same kid": signing.sign(EVENT, IMPOSTOR),
        "unknown kid": signing.sign(EVENT, SigningKey("nobody", "EdDSA", IMPOSTOR.private_key)),
        "token signature": json.dumps({**unsigned, "jws": f"{header}..{sig}"}),
        "alg none": json.dumps({**unsigned, "jws": f"{none_header}.."}),
        "not detached": json.dumps({**unsigned, "jws": "a.b.c"}),
        "not a string": json.dumps({**unsigned, "jws": 5}),
    }


def test_signed_event_verifies_and_round_trips() -> None:
    message = signed(EVENT)
    assert json.loads(message)["data"] == {"user_id": 7, "username": "ann"}  # still readable
    assert asyncio.run(decode(message)) == EVENT
    assert CloudEvent.parse(message) == EVENT  # readers that ignore `jws` still parse it


@pytest.mark.parametrize("name", sorted(_forgeries()))
def test_forgeries_are_refused(name: str) -> None:
    with pytest.raises(signing.RefusedEvent):
        asyncio.run(decode(_forgeries()[name]))


def test_malformed_messages_are_invalid_not_crashes() -> None:
    for raw in (b"{not json", b"[]", b"\xff\xfe", b"null"):
        with pytest.raises(InvalidEvent):
            asyncio.run(decode(raw))


def test_refusals_are_reported() -> None:
    refused: list[int] = []
    verify = signing.verifier(keys, lambda: refused.append(1))

    async def check(message: str) -> CloudEvent:
        return await verify(message)

    for message in _forgeries().values():
        with pytest.raises(signing.RefusedEvent):
            asyncio.run(check(message))
    assert asyncio.run(check(signed(EVENT))) == EVENT
    assert len(refused) == len(_forgeries())


def test_stream_consumer_dead_letters_forgeries_and_applies_only_signed(
    valkey_proc: ValkeyProc,
) -> None:
    async def scenario() -> None:
        client = avalkey.Valkey.from_url(valkey_proc.url, socket_timeout=2)
        refused: list[int] = []
        got = Collector()
        consumer = StreamConsumer(
            valkey_proc.url,
            group="profiles",
            consumer="profiles",
            handler=got,
            decode=signing.verifier(keys, lambda: refused.append(1)),
            block_ms=200,
        )
        forgeries = _forgeries()
        async with running(consumer.run()):
            for message in forgeries.values():
                await append(client, message, maxlen=1000)
            genuine = user_event(names.USER_REGISTERED, 9, "bob")
            await append(client, signed(genuine), maxlen=1000)
            await await_for(lambda: got.has(9))
            await await_for(probe(lambda: consumer.dead_lettered == len(forgeries)))
        assert got.user_ids == [9]
        assert len(refused) == len(forgeries)
        dead = await client.xrange(names.dead_letter("profiles"))
        assert len(dead) == len(forgeries)
        assert all(b"invalid event" in fields[b"reason"] for _, fields in dead)
        await client.aclose()

    asyncio.run(scenario())
