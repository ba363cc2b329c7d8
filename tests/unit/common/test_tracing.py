"""Tracing: nothing at all when OTEL_EXPORTER_OTLP_ENDPOINT is unset; when set, server spans that
continue the caller's W3C trace context, and events that carry their producer's context."""

from __future__ import annotations

import subprocess
import sys

import httpx
import pytest
from fastapi import FastAPI

from common import tracing
from common.web import install_common
from events import names
from events.model import user_event
from events.tracing import processing, sending
from tests.otlp import OtlpReceiver, ReceivedSpan
from tests.support import wait_for

pytestmark = pytest.mark.timeout(60)
CALLER = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def _items_app() -> FastAPI:
    app = FastAPI()
    install_common(app, "items")

    @app.get("/items/{item_id}")
    async def item(item_id: int) -> dict[str, int]:
        return {"item_id": item_id}

    return app


async def _get(app: FastAPI, path: str, headers: dict[str, str]) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
        return await client.get(path, headers=headers)


def _exported(receiver: OtlpReceiver, count: int) -> list[ReceivedSpan]:
    tracing.shutdown()  # exports what the batch holds
    wait_for(lambda: len(receiver.received()) >= count, what=f"{count} spans exported")
    return receiver.received()


@pytest.mark.parametrize(
    ("environ", "url"),
    [
        ({}, None),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": ""}, None),
        (
            {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318/"},
            "http://127.0.0.1:4318/v1/traces",
        ),
        (
            {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4318/t"},
            "http://127.0.0.1:4318/t",
        ),
        (
            {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_SDK_DISABLED": "true"},
            None,
        ),
        (
            {
                "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318",
                "OTEL_TRACES_EXPORTER": "none",
            },
            None,
        ),
    ],
)
def test_the_standard_variables_decide(environ: dict[str, str], url: str | None) -> None:
    assert tracing.endpoint(environ) == url


def test_off_builds_nothing_and_adds_no_middleware() -> None:
    assert not tracing.configure("items", {})
    first = tracing.span("a")
    assert first is tracing.span("b") and first is tracing.valkey_span("XADD", names.STREAM)
    assert tracing.current() == (None, None)
    headers: dict[str, str] = {}
    tracing.inject(headers)
    assert headers == {}
    plain = FastAPI()
    install_common(plain, "items")
    assert tracing.TraceRequests not in [m.cls for m in plain.user_middleware]
    event = user_event(names.USER_REGISTERED, 1, "ann")
    with sending(event, names.STREAM) as sent:
        assert sent is event


def test_a_service_without_the_endpoint_never_loads_the_sdk() -> None:
    code = (
        "import sys; from common import tracing; import consumers.app, auth.app, gateway.app;"
        "import lab.serve; assert not tracing.configure('profiles', {});"
        "print(sorted(m for m in sys.modules if m.startswith('opentelemetry.sdk')"
        " or m.startswith('opentelemetry.exporter')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


@pytest.mark.anyio
async def test_a_server_span_continues_the_callers_trace(receiver: OtlpReceiver) -> None:
    environ = {"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint}
    assert tracing.configure("items-2", environ)
    app = _items_app()
    r = await _get(app, "/items/5", {"traceparent": CALLER})
    assert r.status_code == 200
    (span,) = _exported(receiver, 1)
    assert span.service == "items-2" and span.kind == "server"
    assert span.name == "GET /items/{item_id}"  # the route's template, never the raw path
    assert span.trace_id == CALLER.split("-")[1] and span.parent_id == CALLER.split("-")[2]
    assert span.attributes["http.response.status_code"] == 200


def test_events_carry_their_producers_context(receiver: OtlpReceiver) -> None:
    assert tracing.configure("auth", {"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint})
    event = user_event(names.USER_REGISTERED, 1, "ann").model_copy(update={"traceparent": CALLER})
    with sending(event, names.STREAM) as sent:
        assert sent.traceparent is not None and sent.traceparent != CALLER
        with tracing.valkey_span("XADD", names.STREAM):
            pass
    other = event.model_copy(update={"traceparent": "00-" + "1" * 32 + "-" + "2" * 16 + "-01"})
    with processing([sent, other], names.STREAM, "profiles"):
        pass
    spans = {s.kind: s for s in _exported(receiver, 3)}
    producer, client, consumer = spans["producer"], spans["client"], spans["consumer"]
    assert producer.trace_id == CALLER.split("-")[1] and producer.parent_id == CALLER.split("-")[2]
    assert sent.traceparent.split("-")[2] == producer.span_id
    assert client.parent_id == producer.span_id and client.name == "XADD users.events.stream"
    assert consumer.parent_id == producer.span_id and consumer.links == ("2" * 16,)
    assert consumer.attributes["messaging.batch.message_count"] == 2
