"""Trace context inside events: the CloudEvents distributed-tracing extension (`traceparent`,
`tracestate`), and the producer and consumer spans around them.

Auth's producer span is the parent that travels: `sending` puts its context into the event just
before the event is signed, so the signature covers it. A consumer's span for a batch is the
child of the first event's producer span and links to the others (OpenTelemetry's messaging
conventions for batches).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from opentelemetry.trace import SpanKind

from common import tracing
from events.model import CloudEvent


def _attributes(operation: str, destination: str) -> dict[str, str | int]:
    return {
        "messaging.system": "valkey",
        "messaging.operation.type": operation,
        "messaging.destination.name": destination,
    }


@contextmanager
def sending(event: CloudEvent, destination: str) -> Iterator[CloudEvent]:
    """A producer span continuing the event's trace; yields the event carrying that span as its
    traceparent (the event itself when tracing is off or the event has no trace)."""
    if not tracing.enabled() or event.traceparent is None:
        yield event
        return
    parent = tracing.context_of(event.traceparent, event.tracestate)
    attributes = _attributes("send", destination) | {"messaging.message.id": event.id}
    with tracing.span(
        f"send {destination}", SpanKind.PRODUCER, parent=parent, attributes=attributes
    ):
        traceparent, tracestate = tracing.current()
        yield event.model_copy(update={"traceparent": traceparent, "tracestate": tracestate})


@contextmanager
def processing(
    events: Sequence[CloudEvent], destination: str, group: str | None = None
) -> Iterator[None]:
    """A consumer span around applying (and acknowledging) a batch of delivered events."""
    traced = [e for e in events if e.traceparent is not None] if tracing.enabled() else []
    if not traced:
        yield
        return
    first, rest = traced[0], traced[1:]
    attributes = _attributes("process", destination)
    attributes["messaging.batch.message_count"] = len(events)
    if group is not None:
        attributes["messaging.consumer.group.name"] = group
    links = [link for e in rest for link in tracing.link_to(e.traceparent, e.tracestate)]
    with tracing.span(
        f"process {destination}",
        SpanKind.CONSUMER,
        parent=tracing.context_of(first.traceparent, first.tracestate),
        attributes=attributes,
        links=links,
    ):
        yield
