"""Poison on the bus never stalls a consumer: whatever lands on the channel or the stream, the
next real user still reaches every service, and the poison is refused and counted."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import valkey

from bench.harness import Variant
from bench.parts.reliability.soak import wait_subscribers
from common.settings import CONSUMER_SERVICES
from events import names
from lab.processes import Stack
from tests.e2e.client import client
from tests.support import wait_for

POISON: list[bytes] = [
    b"",
    b"\x00\xff\xfe binary",
    b"{not json",
    b"[" * 100_000 + b"]" * 100_000,  # nesting deep enough to blow a recursive parser
    json.dumps(
        {"specversion": "1.0", "type": "user.registered", "data": {"user_id": "1"}}
    ).encode(),
    json.dumps({"type": "user.registered", "data": {"user_id": 2**80}}).encode(),
    json.dumps({"x": "y" * 600_000}).encode(),  # big, under Valkey's limits
]


@pytest.fixture
def stack(lazy_stack: Stack) -> Stack:
    """The shared stack, in lazy mode; a test switches it to the mode it needs."""
    return lazy_stack


def _register(stack: Stack) -> int:
    return client(stack).new_user("p")[0]


def _status(stack: Stack, service: str) -> dict[str, int]:
    return client(stack).status(service)


def _knows(stack: Stack, service: str, user_id: int) -> bool:
    return user_id in client(stack).known(service)


@pytest.mark.parametrize("label", ["pubsub", "streams+outbox", "hybrid"])
def test_poison_never_stalls_a_consumer(stack: Stack, label: str, tmp_path: Path) -> None:
    variant = Variant.parse(label)
    stack.set_mode(variant.mode, variant.publish)
    wait_subscribers(stack, variant.mode)
    before = {s: _status(stack, s) for s in CONSUMER_SERVICES}
    admin = valkey.Valkey.from_url(stack.settings.effective_valkey_url)
    try:
        for raw in POISON * 3:
            if label == "pubsub":
                admin.publish(names.CHANNEL, raw)
            else:
                admin.xadd(names.STREAM, {names.STREAM_FIELD: raw})
    finally:
        admin.close()
    user_id = _register(stack)
    for service in CONSUMER_SERVICES:
        wait_for(
            lambda s=service: _knows(stack, s, user_id),
            timeout=20,
            what=f"{service} to learn the user registered after the poison",
        )
        after = _status(stack, service)
        refused = sum(
            after.get(k, 0) - before[service].get(k, 0)
            for k in ("invalid_events", "events_refused")
        )
        assert refused >= len(POISON) * 3, (service, after)
        assert after["subscriber"] == "connected", (service, after)
