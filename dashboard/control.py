"""What the dashboard's buttons do: the same Stack and LabClient calls as the CLI's commands."""

from __future__ import annotations

import secrets
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from common.settings import Mode, Publish
from lab.client import ClientError, LabClient
from lab.processes import Stack, StackError

BURST_WORKERS = 4


class ControlError(ValueError):
    """A control request that cannot be carried out, with a one-line reason."""


@dataclass
class Control:
    """One stack's controls, and the credentials of the users the dashboard registered."""

    stack: Stack
    passwords: dict[str, str] = field(default_factory=dict)
    names: dict[int, str] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def client(self) -> LabClient:
        return self.stack.client()

    def remember(self, user_id: int, username: str, password: str | None = None) -> None:
        """Note a user registered here, so the grid can name it and deactivate can log in."""
        with self.lock:
            self.names[user_id] = username
            if password is not None:
                self.passwords[username] = password

    def set_mode(self, mode: str, publish: str | None) -> list[dict[str, Any]]:
        """Switch every running service, as `cli.py mode` does."""
        try:
            wanted = Mode(mode)
            pub = Publish(publish) if publish else None
        except ValueError as exc:
            raise ControlError(str(exc)) from None
        return self.stack.set_mode(wanted, pub)

    def stop(self, name: str) -> bool:
        """Stop one process, as `cli.py stop` does; the dashboard itself is not offered."""
        self._controllable(name)
        return self.stack.stop(name)

    def start(self, name: str) -> int:
        """Start one process again, as `cli.py start` does."""
        self._controllable(name)
        return self.stack.start(name)

    def _controllable(self, name: str) -> None:
        if name == "dashboard":
            raise ControlError("the dashboard does not stop itself; use `cli.py stop dashboard`")
        try:
            self.stack.spec(name)
        except StackError as exc:
            raise ControlError(str(exc)) from None

    def burst(self, count: int, prefix: str = "burst") -> dict[str, Any]:
        """Register `count` fresh users through the gateway, a few at a time."""
        tag = secrets.token_hex(3)
        client = self.client()

        def one(k: int) -> tuple[str, int, Any]:
            name = f"{prefix}-{tag}-{k}"
            password = secrets.token_urlsafe(12)
            reply = client.register(name, password)
            if reply.status == 201:
                self.remember(int(reply.body["user_id"]), name, password)
            return name, reply.status, reply.body

        with ThreadPoolExecutor(BURST_WORKERS) as pool:
            results = list(pool.map(one, range(1, count + 1)))
        created = [r for r in results if r[1] == 201]
        failed = [{"username": n, "status": st, "body": b} for n, st, b in results if st != 201]
        return {
            "registered": len(created),
            "user_ids": [int(b["user_id"]) for _, _, b in created],
            "failed": failed[:10],
        }

    def deactivate(self, username: str) -> dict[str, Any]:
        """Log in as a user this dashboard registered and deactivate it, as `cli.py deactivate`."""
        password = self.passwords.get(username)
        if password is None:
            raise ControlError(f"{username!r} was not registered from this dashboard")
        gone = self.client().deactivate_user(username, password)
        return {"username": username, "status": gone.status, "body": gone.body or None}

    def last_user(self) -> str | None:
        """The most recently registered user this dashboard knows the password of."""
        with self.lock:
            return next(reversed(self.passwords), None)


def describe_error(exc: Exception) -> str:
    """A one-line reason for a failed control call."""
    if isinstance(exc, ClientError | StackError | ControlError):
        return str(exc)
    return f"{exc.__class__.__name__}: {exc}"
