"""The stack the benchmark drives, and the client operations every scenario uses."""

from __future__ import annotations

import asyncio
import functools
import secrets
import shutil
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench.loadgen import Connection, Request, closed_loop, get_request, json_request
from bench.variants import Variant
from common.settings import CONSUMER_SERVICES, Mode
from lab.isolated import isolated_env
from lab.processes import Stack

PASSWORD = "bench password 1234"  # noqa: S105 - for throwaway benchmark users


@dataclass
class User:
    """A registered user and, once logged in, a token."""

    user_id: int
    name: str
    token: str | None = None


@dataclass
class Harness:
    """Drives one stack: switch modes, register users, call services, read what they know."""

    stack: Stack
    host: str = "127.0.0.1"
    http: httpx.AsyncClient = field(default_factory=lambda: httpx.AsyncClient(timeout=30))

    @property
    def gateway_port(self) -> int:
        return self.stack.settings.lab_gateway_port

    async def close(self) -> None:
        await self.http.aclose()

    # -- control ------------------------------------------------------------------------

    async def internal(self, name: str, method: str, path: str, body: Any = None) -> Any:
        port = self.stack.spec(name).port
        return await self.stack.client().ainternal(self.http, port, method, path, body)

    async def switch(self, variant: Variant) -> None:
        """Switch the running stack and wait until event subscribers are connected."""
        await asyncio.to_thread(self.stack.set_mode, variant.mode, variant.publish)
        await self.wait_subscribers(variant.mode)

    async def wait_subscribers(self, mode: Mode, timeout: float = 15.0) -> None:
        want = "off" if mode is Mode.LAZY else "connected"
        deadline = time.monotonic() + timeout
        for service in CONSUMER_SERVICES:
            while True:
                try:
                    state = (await self.internal(service, "GET", "status"))["subscriber"]
                except httpx.HTTPError:
                    state = "down"
                if state == want:
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{service} subscriber is {state}, wanted {want}")
                await asyncio.sleep(0.02)

    async def status(self, name: str) -> dict[str, Any]:
        result: dict[str, Any] = await self.internal(name, "GET", "status")
        return result

    async def known(self, service: str) -> dict[int, dict[str, Any]]:
        users = (await self.internal(service, "GET", "known-users"))["users"]
        return {int(u["user_id"]): u for u in users}

    async def start(self, name: str) -> None:
        await asyncio.to_thread(self.stack.start, name)

    async def stop(self, name: str, kill: bool = False) -> None:
        """Stop one process: SIGTERM, or SIGKILL with kill."""
        await asyncio.to_thread(functools.partial(self.stack.stop, name, kill=kill))

    async def restart_auth(self, **env: str) -> None:
        """Restart auth with changed settings (fault switch, token lifetime); "" unsets one."""
        await self.restart(("auth",), **env)

    async def restart(self, names: Iterable[str], **env: str) -> None:
        """Restart processes with changed settings; "" unsets one."""
        names = list(names)
        for name in names:
            await self.stop(name)
        for key, value in env.items():
            if value:
                self.stack.env[key] = value
            else:
                self.stack.env.pop(key, None)
        for name in names:
            await self.start(name)

    def wipe_service(self, service: str) -> None:
        """Delete a stopped service's SQLite database, as if it were brand new."""
        url = self.stack.settings.database_url(service)
        path = Path(url.split(":///", 1)[1])
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)

    # -- users --------------------------------------------------------------------------

    async def register(self, count: int, concurrency: int = 4, prefix: str = "u") -> list[User]:
        """Register `count` fresh users through the gateway."""
        tag = secrets.token_hex(3)
        names = [f"{prefix}-{tag}-{i}" for i in range(count)]
        result = await closed_loop(
            self.host,
            self.gateway_port,
            lambda i: json_request(
                "POST", "/auth/register", {"username": names[i], "password": PASSWORD}
            ),
            total=count,
            concurrency=concurrency,
            keep_replies=True,
        )
        users = []
        for index, reply in result.replies:
            if reply.status == 201:
                users.append(User(int(reply.json()["user_id"]), names[index]))
        return sorted(users, key=lambda u: u.user_id)

    async def register_one(self, name: str | None = None) -> tuple[int, User | None]:
        """Register one user; (status, user or None)."""
        name = name or f"u-{secrets.token_hex(4)}"
        r = await self.http.post(
            f"http://{self.host}:{self.gateway_port}/auth/register",
            json={"username": name, "password": PASSWORD},
        )
        if r.status_code != 201:
            return r.status_code, None
        return 201, User(int(r.json()["user_id"]), name)

    async def login(self, users: Iterable[User], concurrency: int = 4) -> None:
        """Log users in and keep their tokens."""
        todo = list(users)
        result = await closed_loop(
            self.host,
            self.gateway_port,
            lambda i: json_request(
                "POST", "/auth/login", {"username": todo[i].name, "password": PASSWORD}
            ),
            total=len(todo),
            concurrency=concurrency,
            keep_replies=True,
        )
        for index, reply in result.replies:
            if reply.status == 200:
                todo[index].token = reply.json()["token"]

    async def call(self, service: str, user: User, path: str = "/whoami") -> int:
        """One call through the gateway; returns the status."""
        conn = Connection(self.host, self.gateway_port)
        try:
            reply = await conn.request(*_get(f"/{service}{path}", user.token))
        except OSError:
            return 599
        finally:
            await conn.close()
        return reply.status

    async def call_all(
        self, users: list[User], services: Iterable[str] = CONSUMER_SERVICES, concurrency: int = 4
    ) -> dict[str, list[int]]:
        """Every user calls each service once; statuses per service."""
        out: dict[str, list[int]] = {}
        for service in services:
            result = await closed_loop(
                self.host,
                self.gateway_port,
                functools.partial(_whoami_of, service, users),
                total=len(users),
                concurrency=concurrency,
            )
            out[service] = result.statuses
        return out


def _whoami_of(service: str, users: list[User], i: int) -> Request:
    return get_request(f"/{service}/whoami", users[i].token)


def _get(path: str, token: str | None) -> tuple[str, str, dict[str, str], None]:
    return get_request(path, token)  # type: ignore[return-value]


def make_stack(state_dir: Path, **env: str) -> Stack:
    """A stack in a fresh state dir (removed first) with free ports."""
    if state_dir.exists():
        shutil.rmtree(state_dir)
    return Stack(env=isolated_env(state_dir, 1, **env))
