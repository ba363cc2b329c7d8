"""The CloudEvent model: JSON round trip and rejection of malformed messages."""

from __future__ import annotations

import json

import pytest

from events import names
from events.model import CloudEvent, InvalidEvent, user_event

pytestmark = pytest.mark.timeout(60)


def test_round_trip() -> None:
    event = user_event(names.USER_REGISTERED, 42, "alice")
    body = event.to_json()
    doc = json.loads(body)
    assert doc["specversion"] == "1.0"
    assert doc["source"] == "/auth"
    assert doc["subject"] == "42"
    assert doc["datacontenttype"] == "application/json"
    assert doc["data"] == {"user_id": 42, "username": "alice"}
    assert CloudEvent.parse(body) == event
    assert CloudEvent.parse(body.encode()) == event


def test_ids_are_unique() -> None:
    assert (
        user_event(names.USER_DEACTIVATED, 1, "a").id
        != user_event(names.USER_DEACTIVATED, 1, "a").id
    )


@pytest.mark.parametrize(
    "raw",
    [
        b"not json",
        b"",
        b"\xff\xfe",
        b"[]",
        json.dumps(
            {
                "id": "x",
                "type": "user.registered",
                "subject": "1",
                "time": "2024-01-01T00:00:00Z",
                "data": {"username": "a"},
            }
        ),
        json.dumps(
            {
                "id": "x",
                "type": "user.exploded",
                "subject": "1",
                "time": "2024-01-01T00:00:00Z",
                "data": {"user_id": 1, "username": "a"},
            }
        ),
    ],
)
def test_invalid_messages_raise_invalid_event(raw: bytes | str) -> None:
    with pytest.raises(InvalidEvent):
        CloudEvent.parse(raw)


@pytest.mark.parametrize(
    "traceparent",
    ["", "00-xyz", "00-0AF7651916CD43DD8448EB211C80319C-B7AD6B7169203331-01", "00-" + "0" * 80],
)
def test_a_malformed_traceparent_is_an_invalid_event(traceparent: str) -> None:
    attributes = user_event(names.USER_REGISTERED, 1, "ann").attributes()
    with pytest.raises(InvalidEvent):
        CloudEvent.from_attributes(attributes | {"traceparent": traceparent})


def test_an_event_carries_no_trace_context_when_tracing_is_off() -> None:
    event = user_event(names.USER_REGISTERED, 1, "ann")
    assert event.traceparent is None and "traceparent" not in event.to_json()
