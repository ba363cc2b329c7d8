"""Helpers shared by the test layers: polling to a deadline, a real valkey-server, PostgreSQL,
the text a database stores."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
import valkey
from sqlalchemy import Engine, Table, Text, cast, func, select

from lab.isolated import isolated_env
from lab.net import free_port
from lab.valkey_server import ValkeyConfig, spawn

T = TypeVar("T")


def wait_for(
    check: Callable[[], T], timeout: float = 5.0, interval: float = 0.02, what: str = "condition"
) -> T:
    """Poll check() until it returns a truthy value or the deadline passes."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while True:
        try:
            last = check()
        except Exception as exc:  # noqa: BLE001 - any probe may fail while a process comes up
            last = None
            err: Exception | None = exc
        else:
            err = None
        if last:
            return last
        if time.monotonic() >= deadline:
            raise AssertionError(
                f"timed out after {timeout}s waiting for {what}: last={last!r} err={err!r}"
            )
        time.sleep(interval)


async def await_for(
    check: Callable[[], Awaitable[T]],
    timeout: float = 5.0,
    interval: float = 0.02,
    what: str = "condition",
) -> T:
    """Async twin of wait_for: poll an awaitable check until truthy or the deadline."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while True:
        last = await check()
        if last:
            return last
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}: last={last!r}")
        await asyncio.sleep(interval)


@dataclass
class ValkeyProc:
    """A real valkey-server started for a test, restartable on the same port and data dir."""

    config: ValkeyConfig
    log: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.config.port}/0"

    def start(self) -> None:
        self.proc = spawn(self.config, self.log)
        client = valkey.Valkey.from_url(self.url, socket_connect_timeout=0.5)
        try:
            wait_for(client.ping, timeout=10, what="valkey-server PING")
        finally:
            client.close()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        self.proc = None

    def client(self) -> valkey.Valkey:
        return valkey.Valkey.from_url(self.url)


def start_valkey(tmp: Path, **extra: str) -> ValkeyProc:
    """Start a valkey-server on a free port with its data under tmp."""
    server = ValkeyProc(
        ValkeyConfig(port=free_port(), data_dir=tmp / "valkey", extra=dict(extra)),
        log=tmp / "valkey.log",
    )
    server.start()
    return server


def reset_valkey(server: ValkeyProc) -> None:
    """Bring a valkey-server back to how it started: no keys, scripts or functions, and no client
    left connected by an earlier test (a subscriber counts as a client)."""
    client = server.client()
    try:
        client.flushall()
        client.script_flush()
        client.execute_command("FUNCTION", "FLUSH")
        for kind in ("normal", "pubsub"):
            client.execute_command("CLIENT", "KILL", "TYPE", kind, "SKIPME", "yes")
    finally:
        client.close()


PG_ADMIN_URL = "postgresql://127.0.0.1:5432/test"


def postgres_available() -> str | None:
    """None if PostgreSQL answers on 127.0.0.1:5432, else the reason it does not."""
    import psycopg

    try:
        with psycopg.connect(PG_ADMIN_URL, connect_timeout=2, user="postgres"):
            return None
    except (psycopg.Error, OSError) as exc:
        return f"PostgreSQL not reachable at 127.0.0.1:5432 ({exc.__class__.__name__})"


def require_postgres() -> None:
    """Skip the test when PostgreSQL is missing, with the reason; under CI=true, fail it."""
    reason = postgres_available()
    if reason is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true requires PostgreSQL: {reason}")
    pytest.skip(reason)


def create_pg_database(name: str) -> str:
    """Create an empty PostgreSQL database and return its URL."""
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True, user="postgres") as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"postgresql://postgres@127.0.0.1:5432/{name}"


def drop_pg_database(name: str) -> None:
    """Drop a database made by create_pg_database."""
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True, user="postgres") as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def stored_text(engine: Engine, table: Table) -> dict[Any, tuple[Any, ...]]:
    """Each row's other columns as the database holds them, by the first column: their text and,
    on SQLite, their storage class."""
    key, *others = table.c
    columns: list[Any] = [cast(column, Text) for column in others]
    if engine.dialect.name == "sqlite":
        columns += [func.typeof(column) for column in others]
    with engine.connect() as conn:
        return {row[0]: tuple(row[1:]) for row in conn.execute(select(key, *columns))}


def stack_env(state_dir: Path, replicas: int = 1, **extra: str) -> dict[str, str]:
    """Settings for a test stack in state_dir with every port free."""
    return isolated_env(state_dir, replicas, **extra)


def raw_request(
    method: bytes, target: bytes, body: bytes = b"", headers: tuple[bytes, ...] = ()
) -> bytes:
    """An HTTP/1.1 request with its target byte for byte as given (HTTP clients normalise it)."""
    lines = [
        method + b" " + target + b" HTTP/1.1",
        b"Host: 127.0.0.1",
        b"Connection: close",
        b"Content-Length: " + str(len(body)).encode(),
        *headers,
    ]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def raw_exchange(port: int, request: bytes, timeout: float = 30.0) -> tuple[int, bytes]:
    """Send request bytes to 127.0.0.1:port over a socket and read the whole answer until the
    server closes: (status, body)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(request)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line = head.split(b"\r\n", 1)[0]
    assert status_line.startswith(b"HTTP/1.1 "), answer[:200]
    return int(status_line.split(b" ", 2)[1]), body
