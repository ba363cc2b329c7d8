"""OpenTelemetry traces over OTLP (http/protobuf) when OTEL_EXPORTER_OTLP_ENDPOINT is set.

Off (the default), nothing is built: no SDK, no exporter, no middleware, and every helper here
returns at its first test of one module global. On, each process exports its spans under its own
`service.name` (profiles-2 for a replica); the W3C Trace Context travels in HTTP headers, and in
events as the CloudEvents distributed-tracing extension (events/tracing.py).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Mapping, MutableMapping
from contextlib import AbstractContextManager
from typing import Any

from opentelemetry.context import Context
from opentelemetry.trace import Link, Span, SpanKind, Status, StatusCode, Tracer, get_current_span
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from starlette.types import ASGIApp, Message, Receive, Scope, Send

NAMESPACE = "discovery-lab"
_PROPAGATOR = TraceContextTextMapPropagator()
_OFF: AbstractContextManager[None] = contextlib.nullcontext()


class _Active:
    """The one tracer of this process, or None: tracing is off; and its provider."""

    tracer: Tracer | None = None
    provider: Any = None


_active = _Active()


def endpoint(environ: Mapping[str, str]) -> str | None:
    """Where spans go, by the standard OTEL_* variables; None: tracing is off."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return None
    if environ.get("OTEL_TRACES_EXPORTER", "otlp").strip().lower() == "none":
        return None
    if traces := environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        return traces
    if base := environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        return base.rstrip("/") + "/v1/traces"  # the signal's path, as the specification says
    return None


def configure(service_name: str, environ: Mapping[str, str] = os.environ) -> bool:
    """Export this process's spans under `service_name` if the environment asks; True if on.

    The SDK is imported here only, so a process without the endpoint never loads it. The
    exporter reads the other OTEL_EXPORTER_OTLP_* variables (headers, timeout, compression).
    """
    shutdown()
    url = endpoint(environ)
    if url is None:
        return False
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    # Given attributes win over OTEL_SERVICE_NAME: one value for the whole stack would merge
    # every process into one service.
    resource = Resource.create({"service.name": service_name, "service.namespace": NAMESPACE})
    provider = TracerProvider(resource=resource)  # flushes its batch at exit
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=url)))
    _active.tracer = provider.get_tracer("discovery_lab")
    _active.provider = provider
    return True


def shutdown() -> None:
    """Export what is left and turn tracing off (at exit this happens on its own)."""
    provider, _active.provider, _active.tracer = _active.provider, None, None
    if provider is not None:
        provider.shutdown()


def enabled() -> bool:
    """True if spans are being recorded and exported."""
    return _active.tracer is not None


def span(
    name: str,
    kind: SpanKind = SpanKind.INTERNAL,
    *,
    parent: Context | None = None,
    attributes: Mapping[str, str | int] | None = None,
    links: Iterable[Link] = (),
) -> AbstractContextManager[Span | None]:
    """A current span for the `with` block, or a shared do-nothing context when tracing is off."""
    tracer = _active.tracer
    if tracer is None:
        return _OFF
    return tracer.start_as_current_span(
        name, context=parent, kind=kind, attributes=attributes, links=list(links)
    )


def valkey_span(command: str, key: str) -> AbstractContextManager[Span | None]:
    """A client span around one Valkey command on `key`, written where the call is made (no
    instrumentation patches valkey-py)."""
    if _active.tracer is None:
        return _OFF
    return span(
        f"{command} {key}",
        SpanKind.CLIENT,
        attributes={"db.system.name": "valkey", "db.operation.name": command},
    )


def current() -> tuple[str | None, str | None]:
    """The current span's W3C `traceparent` and `tracestate`; (None, None) when off or outside
    any span."""
    if _active.tracer is None:
        return None, None
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    return carrier.get("traceparent"), carrier.get("tracestate") or None


def context_of(traceparent: str | None, tracestate: str | None = None) -> Context | None:
    """The remote context a traceparent names, to parent a span on; None if there is none."""
    if _active.tracer is None or traceparent is None:
        return None
    carrier = {"traceparent": traceparent}
    if tracestate:
        carrier["tracestate"] = tracestate
    return _PROPAGATOR.extract(carrier)


def link_to(traceparent: str | None, tracestate: str | None = None) -> list[Link]:
    """A link to the span a traceparent names, as a list of zero or one."""
    context = context_of(traceparent, tracestate)
    if context is None:
        return []
    span_context = get_current_span(context).get_span_context()
    return [Link(span_context)] if span_context.is_valid else []


def inject(headers: MutableMapping[str, str]) -> None:
    """Add the current trace context to outgoing HTTP headers (W3C Trace Context)."""
    if _active.tracer is not None:
        _PROPAGATOR.inject(headers)


class TraceRequests:
    """A server span per HTTP request, continuing the caller's W3C trace context."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        tracer = _active.tracer
        if scope["type"] != "http" or tracer is None:
            await self.app(scope, receive, send)
            return
        carrier = {
            k.decode("latin-1"): v.decode("latin-1")
            for k, v in scope["headers"]
            if k in (b"traceparent", b"tracestate")
        }
        method = scope["method"]
        with tracer.start_as_current_span(
            method,
            context=_PROPAGATOR.extract(carrier),
            kind=SpanKind.SERVER,
            attributes={"http.request.method": method, "url.path": scope["path"]},
        ) as current_span:

            async def send_seen(message: Message) -> None:
                if message["type"] == "http.response.start":
                    status = int(message["status"])
                    current_span.set_attribute("http.response.status_code", status)
                    if status >= 500:
                        current_span.set_status(Status(StatusCode.ERROR))
                await send(message)

            try:
                await self.app(scope, receive, send_seen)
            finally:
                route = scope.get("route")
                template = getattr(route, "path", None)
                if template:  # low cardinality: the route's template, never the raw path
                    current_span.update_name(f"{method} {template}")
                    current_span.set_attribute("http.route", template)


def install(app: Any) -> None:
    """Add the server-span middleware to a FastAPI app when tracing is on; nothing when off."""
    if _active.tracer is not None:
        app.add_middleware(TraceRequests)
