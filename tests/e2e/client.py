"""The tests' one client of a stack: the project's own LabClient, plus the steps tests repeat
(a new user, their token, who a service thinks they are, what a service knows)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

from lab.client import LabClient, Reply
from lab.processes import Stack

PASSWORD = "correct horse battery"


def fresh(prefix: str = "user") -> str:
    """A username no other test uses."""
    return f"{prefix}-{secrets.token_hex(4)}"


def gw(stack: Stack) -> str:
    """The gateway's base URL, for the requests a test builds by hand on purpose."""
    return f"http://127.0.0.1:{stack.settings.lab_gateway_port}"


@dataclass
class StackClient(LabClient):
    """LabClient with the ports of every process of one stack."""

    ports: dict[str, int] = field(default_factory=dict)

    def new_user(
        self, prefix: str = "user", password: str = PASSWORD, **attributes: Any
    ) -> tuple[int, str]:
        """Register a user no other test has: (user_id, username)."""
        name = fresh(prefix)
        body = {"username": name, "password": password, **attributes}
        reply = self.request("POST", "/auth/register", json_body=body)
        assert reply.status == 201, reply.body
        return int(reply.body["user_id"]), name

    def token(self, name: str, password: str = PASSWORD) -> str:
        """Log in and return the bearer token."""
        reply = self.login(name, password)
        assert reply.status == 200, reply.body
        return str(reply.body["token"])

    def new_token(self) -> str:
        """A token of a user registered for it."""
        return self.token(self.new_user()[1])

    def whoami(self, service: str, token: str) -> Reply:
        return self.call(service, "whoami", token)

    def get(self, service: str, path: str) -> Any:
        """GET a process's /internal/<path>."""
        return self.internal(self.ports[service], "GET", path)

    def status(self, service: str) -> dict[str, Any]:
        return self.get(service, "status")

    def known(self, service: str) -> dict[int, dict[str, Any]]:
        """The users a consumer knows, by id."""
        return {int(u["user_id"]): u for u in self.get(service, "known-users")["users"]}


def client(stack: Stack) -> StackClient:
    """The client of this stack, patient enough for a loaded machine."""
    ports = {spec.name: spec.port for spec in stack.specs()}
    return StackClient(stack.settings, timeout=30.0, ports=ports)
