"""OpenTelemetry on a real stack: one registration is one connected trace, through the gateway,
auth, Valkey and every consumer, exported over OTLP to a receiver the test runs itself."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import valkey
import yaml

from common.settings import Mode, Publish, parse_replica
from events import names
from lab.processes import Stack
from tests.e2e.client import client as lab
from tests.e2e.conftest import StackFactory
from tests.otlp import OtlpReceiver, ReceivedSpan
from tests.support import wait_for

pytestmark = pytest.mark.slow
CONSUMERS = ("profiles", "notifications")
REPLICAS = ("profiles", "profiles-2", "notifications", "notifications-2")
ROOT = Path(__file__).resolve().parents[2]


def _service(span: ReceivedSpan) -> str:
    """The service a span's process belongs to: profiles for profiles-2."""
    return parse_replica(span.service)[0]


def _trace_of_registration(spans: list[ReceivedSpan]) -> list[ReceivedSpan]:
    """Every span in the trace of auth's register request, once each consumer has processed it."""
    register = [s for s in spans if s.service == "auth" and s.name == "POST /register"]
    if not register:
        return []
    trace = [s for s in spans if s.trace_id == register[0].trace_id]
    processed = {_service(s) for s in trace if s.kind == "consumer"}
    acked = {_service(s) for s in trace if s.name == "XACK users.events.stream"}
    return trace if set(CONSUMERS) <= processed & acked else []


def test_one_registration_is_one_connected_trace(
    stack_factory: StackFactory, receiver: OtlpReceiver
) -> None:
    stack: Stack = stack_factory(
        replicas=2,
        LAB_MODE=Mode.STREAMS.value,
        LAB_PUBLISH=Publish.OUTBOX.value,
        OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint,
        OTEL_BSP_SCHEDULE_DELAY="100",  # export within a tenth of a second, not five
    )
    client = lab(stack)
    for name in REPLICAS:
        wait_for(
            lambda n=name: client.status(n)["subscriber"] == "connected",
            timeout=20,
            what=f"{name} consumer",
        )
    # every process exports under its own name, replicas included (their health checks and
    # status calls are spans too)
    wait_for(
        lambda: {"gateway", "auth", *REPLICAS} <= {s.service for s in receiver.received()},
        timeout=20,
        what="a span from every process",
    )

    client.new_user("traced")
    trace = wait_for(
        lambda: _trace_of_registration(receiver.received()),
        timeout=20,
        what="the registration's spans from auth and every consumer",
    )

    by_id = {s.span_id: s for s in trace}
    roots = [s for s in trace if not s.parent_id]
    assert [(r.service, r.kind) for r in roots] == [("gateway", "server")]
    assert all(s.parent_id in by_id for s in trace if s.parent_id), "a parent is missing"
    assert {_service(s) for s in trace} >= {"gateway", "auth", *CONSUMERS}

    def chain(span: ReceivedSpan) -> list[tuple[str, str]]:
        path = [(span.service, span.kind)]
        while span.parent_id:
            span = by_id[span.parent_id]
            path.append((span.service, span.kind))
        return path

    send = next(s for s in trace if s.service == "auth" and s.kind == "producer")
    xadd = next(s for s in trace if s.service == "auth" and s.name == "XADD users.events.stream")
    assert xadd.parent_id == send.span_id and xadd.kind == "client"
    assert chain(send)[1:] == [("auth", "server"), ("gateway", "server")]
    for service in CONSUMERS:
        process = next(s for s in trace if _service(s) == service and s.kind == "consumer")
        assert process.parent_id == send.span_id  # the event carried the producer's context
        assert process.attributes["messaging.consumer.group.name"] == service
        xack = next(s for s in trace if s.service == process.service and s.name.startswith("XACK"))
        assert xack.parent_id == process.span_id and xack.kind == "client"
    # one registration, one trace: no consumer span of it landed in another trace
    elsewhere = [s for s in receiver.received() if s.kind == "consumer" and s not in trace]
    assert not elsewhere

    # the event on the stream carries the producer's context, as the AsyncAPI document says
    admin = valkey.Valkey.from_url(stack.settings.effective_valkey_url)
    try:
        ((_, fields),) = admin.xrange(names.STREAM)
    finally:
        admin.close()
    event = json.loads(fields[names.STREAM_FIELD.encode()])
    assert event["traceparent"].split("-")[1:3] == [send.trace_id, send.span_id]
    spec = yaml.safe_load((ROOT / "asyncapi.yaml").read_text())
    schemas = spec["components"]["schemas"]
    schema = json.loads(
        json.dumps({**schemas["UserEvent"], "$defs": schemas}).replace(
            "#/components/schemas/", "#/$defs/"
        )
    )
    jsonschema.validate(event, schema)
