"""Structured logs: one JSON access line per request with its request id, application lines
alongside, in a per-process file that rotates at a size cap."""

from __future__ import annotations

import contextvars
import json
import logging
import os
import re
import secrets
import threading
import time
from pathlib import Path
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from common.statefiles import private_dir

REQUEST_ID_HEADER = "X-Request-Id"
_HEADER = REQUEST_ID_HEADER.lower().encode()
# What a client may choose as an id: anything else (a line break, a megabyte) is replaced.
_VALID_ID = re.compile(rb"[A-Za-z0-9._-]{1,64}")
_request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")


def request_id() -> str:
    """The id of the request being served, or "" outside one."""
    return _request_id.get()


def log_path(directory: Path, process: str) -> Path:
    """Where a process writes its JSON lines (beside the console log that `up` captures)."""
    return directory / f"{process}.jsonl"


class LineLog:
    """Lines appended to an owner-only file, which moves to .1 (.1 to .2 ...) at a size cap."""

    def __init__(self, path: Path, max_bytes: int, backups: int) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.backups = backups
        self._lock = threading.Lock()  # application lines may come from worker threads
        private_dir(path.parent)
        self._fd = self._open()
        self._size = os.fstat(self._fd).st_size

    def _open(self) -> int:
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.fchmod(fd, 0o600)
        return fd

    def write(self, line: str) -> None:
        """Append one line: a single write, so `logs -f` sees it at once."""
        data = (line + "\n").encode()
        with self._lock:
            os.write(self._fd, data)
            self._size += len(data)
            if self._size >= self.max_bytes:
                self._rotate()

    def _rotate(self) -> None:
        os.close(self._fd)
        if self.backups:
            for k in range(self.backups - 1, 0, -1):
                older = self.path.with_name(f"{self.path.name}.{k}")
                if older.exists():
                    older.replace(self.path.with_name(f"{self.path.name}.{k + 1}"))
            self.path.replace(self.path.with_name(f"{self.path.name}.1"))
        else:
            self.path.unlink(missing_ok=True)
        self._fd = self._open()
        self._size = 0


class JsonLines(logging.Handler):
    """Application log records as JSON lines, with the id of the request they belong to."""

    def __init__(self, sink: LineLog, process: str) -> None:
        super().__init__()
        self.sink = sink
        self.process = process

    def emit(self, record: logging.LogRecord) -> None:
        try:
            entry: dict[str, Any] = {
                "ts": round(record.created, 3),
                "kind": "app",
                "process": self.process,
                "level": record.levelname.lower(),
                "logger": record.name,
                "request_id": _request_id.get() or None,
                "message": record.getMessage(),
            }
            if record.exc_info:
                entry["exc"] = logging.Formatter().formatException(record.exc_info)
            self.sink.write(json.dumps(entry))
        except Exception:  # noqa: BLE001 - a log line never takes a request down
            self.handleError(record)


class AccessLog:
    """Give each request an id (the client's if well formed), echo it in the response, and write
    one access line: method, path without the query, status, milliseconds. Never a header or a
    body, so no password or token."""

    def __init__(self, app: ASGIApp, sink: LineLog | None, process: str) -> None:
        self.app = app
        self.sink = sink
        self.process = process

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = next((v for k, v in scope["headers"] if k == _HEADER), None)
        rid = given if given is not None and _VALID_ID.fullmatch(given) else None
        text = rid.decode() if rid else secrets.token_hex(8)
        echoed = (_HEADER, rid or text.encode())
        token = _request_id.set(text)
        status = 0
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), echoed]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            _request_id.reset(token)
            if self.sink is not None:
                client = scope.get("client")
                self.sink.write(
                    json.dumps(
                        {
                            "ts": round(time.time(), 3),
                            "kind": "access",
                            "process": self.process,
                            "request_id": text,
                            "method": scope["method"],
                            "path": scope["path"],
                            "status": status,
                            "ms": round((time.perf_counter() - started) * 1000, 2),
                            "client": client[0] if client else None,
                        }
                    )
                )


def configure(process: str, directory: Path, max_bytes: int, backups: int) -> LineLog:
    """Send every log record to the process's JSON lines; warnings also to stderr, which `up`
    captures in the console log it reads when a process fails to start."""
    sink = LineLog(log_path(directory, process), max_bytes, backups)
    console = logging.StreamHandler()
    console.setLevel(logging.WARNING)
    console.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [JsonLines(sink, process), console]
    root.setLevel(logging.INFO)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per internal call otherwise
    return sink
