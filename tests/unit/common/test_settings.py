"""Settings derived from others: the issuer, and the publish label every command shows."""

from __future__ import annotations

from common.settings import Mode, Publish, Settings, publish_label


def test_the_issuer_follows_the_gateway_unless_it_is_set() -> None:
    moved = Settings(lab_gateway_port=8005, lab_host="127.0.0.2")
    assert moved.lab_issuer == "http://127.0.0.2:8005/auth"
    assert Settings(lab_issuer="https://id.example/auth").lab_issuer == "https://id.example/auth"


def test_lazy_mode_publishes_nothing_whatever_publish_says() -> None:
    assert publish_label(Mode.LAZY, Publish.DIRECT) == "none"
    assert publish_label(Mode.PUBSUB, None) == "direct"
    assert publish_label(Mode.HYBRID, None) == "outbox"
    assert publish_label(Mode.STREAMS, Publish.OUTBOX) == "outbox"
    assert Settings(lab_mode=Mode.LAZY).publish_label == "none"
