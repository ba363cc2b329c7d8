"""Server-Timing: how long named phases of one request took, sent back in a response header."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from starlette.types import ASGIApp, Message, Receive, Scope, Send

# A mutable list per request: worker threads (asyncio.to_thread) get a copy of the context,
# and appending to the shared list is what lets their phases reach the response.
_phases: ContextVar[list[tuple[str, float]] | None] = ContextVar("server_timing", default=None)


@contextmanager
def phase(name: str) -> Iterator[None]:
    """Time a block and report it as `name;dur=<ms>` when a request is being served."""
    started = time.perf_counter()
    try:
        yield
    finally:
        phases = _phases.get()
        if phases is not None:
            phases.append((name, (time.perf_counter() - started) * 1000))


def header_value(phases: list[tuple[str, float]]) -> str:
    """The Server-Timing header for a list of (name, milliseconds)."""
    return ", ".join(f"{name};dur={ms:.2f}" for name, ms in phases)


def parse(value: str | None) -> dict[str, float]:
    """{name: milliseconds} from a Server-Timing header; malformed entries are skipped."""
    out: dict[str, float] = {}
    for entry in (value or "").split(","):
        name, *params = (p.strip() for p in entry.split(";"))
        for param in params:
            key, _, ms = param.partition("=")
            if name and key == "dur":
                try:
                    out[name] = out.get(name, 0.0) + float(ms)
                except ValueError:
                    continue
    return out


class ServerTiming:
    """ASGI middleware: phase() timings and the whole request's time, as a response header."""

    def __init__(self, app: ASGIApp, total: str = "total") -> None:
        self.app = app
        self.total = total

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        phases: list[tuple[str, float]] = []
        token = _phases.set(phases)
        started = time.perf_counter()

        async def timed_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                phases.append((self.total, (time.perf_counter() - started) * 1000))
                headers = [h for h in message.get("headers", []) if h[0] != b"server-timing"]
                upstream = [h[1] for h in message.get("headers", []) if h[0] == b"server-timing"]
                value = ", ".join([header_value(phases), *(u.decode("latin-1") for u in upstream)])
                headers.append((b"server-timing", value.encode("latin-1")))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, timed_send)
        finally:
            _phases.reset(token)
