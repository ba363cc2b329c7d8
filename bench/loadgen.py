"""A raw HTTP/1.1 keep-alive client for measuring, lighter than any HTTP library."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Request = tuple[str, str, dict[str, str], bytes | None]


class HttpError(RuntimeError):
    """The server closed the connection or answered something unparseable."""


@dataclass
class Reply:
    """Status and body of one response."""

    status: int
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class Connection:
    """One keep-alive connection; requests on it are sequential."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(OSError):
                await self.writer.wait_closed()
            self.reader = self.writer = None

    async def request(
        self,
        method: str,
        path: str,
        headers: dict[str, str] | None = None,
        body: bytes | None = None,
    ) -> Reply:
        """Send one request and read its response; reconnects once if the server closed."""
        for attempt in (0, 1):
            if self.writer is None:
                await self.open()
            try:
                return await self._exchange(method, path, headers or {}, body)
            except (ConnectionError, asyncio.IncompleteReadError, HttpError):
                await self.close()
                if attempt:
                    raise
        raise HttpError("unreachable")

    async def _exchange(
        self, method: str, path: str, headers: dict[str, str], body: bytes | None
    ) -> Reply:
        assert self.reader is not None and self.writer is not None
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        if body is not None:
            lines.append(f"Content-Length: {len(body)}")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        self.writer.write(head + (body or b""))
        status_line = await self.reader.readline()
        if not status_line:
            raise HttpError("connection closed")
        parts = status_line.split(b" ", 2)
        status = int(parts[1])
        length = 0
        close = False
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.partition(b":")
            key = name.strip().lower()
            if key == b"content-length":
                length = int(value.strip())
            elif key == b"transfer-encoding" and b"chunked" in value.lower():
                raise HttpError("chunked responses are not supported")
            elif key == b"connection" and value.strip().lower() == b"close":
                close = True
        data = await self.reader.readexactly(length) if length else b""
        if close:
            await self.close()
        return Reply(status, data)


def json_request(method: str, path: str, payload: Any, token: str | None = None) -> Request:
    """A request with a JSON body and an optional bearer token."""
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return method, path, headers, json.dumps(payload).encode()


def get_request(path: str, token: str | None = None) -> Request:
    """A GET with an optional bearer token."""
    return "GET", path, ({"Authorization": f"Bearer {token}"} if token else {}), None


@dataclass
class LoadResult:
    """Per-request latencies (ms), statuses and the wall time of a closed-loop run."""

    latencies: list[float]
    statuses: list[int]
    replies: list[tuple[int, Reply]]
    elapsed_s: float

    @property
    def rps(self) -> float:
        return len(self.latencies) / self.elapsed_s if self.elapsed_s > 0 else 0.0


async def closed_loop(
    host: str,
    port: int,
    make: Callable[[int], Request],
    *,
    total: int | None = None,
    duration: float | None = None,
    concurrency: int = 1,
    keep_replies: bool = False,
) -> LoadResult:
    """Run requests from `concurrency` keep-alive connections until `total` or `duration`."""
    if total is None and duration is None:
        raise ValueError("give total or duration")
    issued = 0
    latencies: list[float] = []
    statuses: list[int] = []
    replies: list[tuple[int, Reply]] = []
    deadline = time.perf_counter() + duration if duration is not None else float("inf")

    async def worker(conn: Connection) -> None:
        nonlocal issued
        try:
            while True:
                if total is not None and issued >= total:
                    return
                if time.perf_counter() >= deadline:
                    return
                index = issued
                issued += 1
                method, path, headers, body = make(index)
                started = time.perf_counter()
                reply = await conn.request(method, path, headers, body)
                latencies.append((time.perf_counter() - started) * 1000)
                statuses.append(reply.status)
                if keep_replies:
                    replies.append((index, reply))
        finally:
            await conn.close()

    # Connections are opened before the clock starts: no sample includes a TCP connect.
    conns = [Connection(host, port) for _ in range(concurrency)]
    await asyncio.gather(*(c.open() for c in conns))
    started = time.perf_counter()
    if duration is not None:
        deadline = started + duration
    await asyncio.gather(*(worker(c) for c in conns))
    return LoadResult(latencies, statuses, replies, time.perf_counter() - started)
