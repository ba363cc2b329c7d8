"""The one client of the stack: the gateway as users reach it, each process's /internal endpoints
as its operator reaches them, and the tokens that `login` saves."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from common.settings import Settings
from common.timing import parse as parse_timing

PROG = "discovery-lab"  # the installed command, named in hints


class ClientError(RuntimeError):
    """A request that failed, with a one-line reason."""


@dataclass
class Reply:
    """An HTTP reply: status, JSON body (or text), elapsed milliseconds, Server-Timing phases."""

    status: int
    body: Any
    ms: float
    timing: dict[str, float] = field(default_factory=dict)
    status_line: str = ""  # as on the wire: HTTP/1.1 200 OK
    headers: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class LabClient:
    """Talks to the gateway the way a browser or script would, and to /internal endpoints with
    the internal token (synchronously for the CLI, asynchronously for the benchmark)."""

    settings: Settings
    timeout: float = 15.0

    @property
    def base_url(self) -> str:
        return f"http://{self.settings.lab_host}:{self.settings.lab_gateway_port}"

    @property
    def auth_url(self) -> str:
        """Auth's own port, where its operator's /internal endpoints are served."""
        return f"http://{self.settings.lab_host}:{self.settings.lab_auth_port}"

    def request(
        self, method: str, path: str, *, json_body: Any = None, token: str | None = None
    ) -> Reply:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return self._exchange("the gateway", self.base_url, method, path, json_body, headers)

    def operator(
        self, method: str, path: str, *, json_body: Any = None, params: Any = None
    ) -> Reply:
        """Call auth's /internal/<path> with the internal token, as its operator does."""
        headers = {"X-Internal-Token": self.settings.internal_token()}
        url, path = self.auth_url, f"/internal/{path}"
        return self._exchange("auth", url, method, path, json_body, headers, params)

    def _exchange(
        self,
        where: str,
        base_url: str,
        method: str,
        path: str,
        json_body: Any,
        headers: dict[str, str],
        params: Any = None,
    ) -> Reply:
        try:
            response = httpx.request(
                method,
                f"{base_url}{path}",
                json=json_body,
                params=params,
                headers=headers,
                timeout=self.timeout,
            )
        except httpx.ConnectError:
            raise ClientError(
                f"cannot reach {where} at {base_url}: is the stack up? ({PROG} up)"
            ) from None
        except httpx.TimeoutException:
            raise ClientError(f"{method} {path} timed out after {self.timeout}s") from None
        try:
            body: Any = response.json()
        except ValueError:
            body = response.text
        return Reply(
            response.status_code,
            body,
            response.elapsed.total_seconds() * 1000,
            parse_timing(response.headers.get("server-timing")),
            f"{response.http_version} {response.status_code} {response.reason_phrase}",
            list(response.headers.multi_items()),
        )

    def register(self, username: str, password: str) -> Reply:
        return self.request(
            "POST", "/auth/register", json_body={"username": username, "password": password}
        )

    def login(self, username: str, password: str) -> Reply:
        return self.request(
            "POST", "/auth/login", json_body={"username": username, "password": password}
        )

    def call(self, service: str, path: str, token: str) -> Reply:
        return self.request("GET", f"/{service}/{path.lstrip('/')}", token=token)

    def jwks(self) -> Reply:
        return self.request("GET", "/auth/.well-known/jwks.json")

    def deactivate(self, token: str) -> Reply:
        return self.request("DELETE", "/auth/users/me", token=token)

    def deactivate_user(self, username: str, password: str) -> Reply:
        """Log in as the user and deactivate it: the 204, or the reply that stopped it."""
        reply = self.login(username, password)
        if reply.status != 200:
            return reply
        return self.deactivate(reply.body["token"])

    def set_plan(self, username: str, plan: str) -> dict[str, Any]:
        """The operator changes a user's plan, named by username: the user's id, name, every
        attribute and their new version; raises ClientError with the reason it could not."""
        found = self.operator("GET", "users", params={"username": username})
        if found.status == 404:
            raise ClientError(f"no user named {username!r}")
        _expect(found, 200, f"looking up {username!r}")
        name = found.body["username"]
        changed = self.operator("PATCH", f"users/{found.body['user_id']}", json_body={"plan": plan})
        if changed.status == 409:
            raise ClientError(f"{name!r} is deactivated: their plan no longer changes")
        if changed.status == 422:
            raise ClientError(f"plan {plan!r} refused: {_reason(changed.body)}")
        _expect(changed, 200, f"changing the plan of {name!r}")
        return {"username": name, **changed.body}

    def internal(
        self, port: int, method: str, path: str, body: Any = None, timeout: float = 5.0
    ) -> dict[str, Any]:
        """Call a process's /internal endpoint; an HTTP error status raises httpx.HTTPError."""
        with httpx.Client(timeout=timeout) as http:
            return _internal_reply(http.request(**self._internal_call(port, method, path, body)))

    async def ainternal(
        self, http: httpx.AsyncClient, port: int, method: str, path: str, body: Any = None
    ) -> dict[str, Any]:
        """The same call on an open async client, whose connections are kept alive."""
        call = self._internal_call(port, method, path, body)
        return _internal_reply(await http.request(**call))

    def _internal_call(self, port: int, method: str, path: str, body: Any) -> dict[str, Any]:
        return {
            "method": method,
            "url": f"http://{self.settings.lab_host}:{port}/internal/{path}",
            "json": body,
            "headers": {"X-Internal-Token": self.settings.internal_token()},
        }


def _reason(body: Any) -> str:
    """The first reason in an error body (a validation error's message), in one line."""
    detail = body.get("detail") if isinstance(body, dict) else body
    if isinstance(detail, list) and detail and isinstance(detail[0], dict):
        detail = detail[0].get("msg", detail[0])
    if detail is None and isinstance(body, dict):
        detail = body.get("error")
    return " ".join(str(detail).split())


def _expect(reply: Reply, status: int, doing: str) -> None:
    """Raise ClientError unless the reply has the status wanted."""
    if reply.status == 401:
        raise ClientError(f"{doing}: auth refused the internal token of this state dir")
    if reply.status != status:
        raise ClientError(f"{doing}: auth answered {reply.status} ({_reason(reply.body)})")


def _internal_reply(response: httpx.Response) -> dict[str, Any]:
    response.raise_for_status()
    data: dict[str, Any] = response.json()
    return data


@dataclass
class TokenStore:
    """Tokens saved under <state>/tokens, one file per username, plus the last one used."""

    state_dir: Path

    @property
    def folder(self) -> Path:
        return self.state_dir / "tokens"

    def save(self, username: str, token: str) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = self.folder / f"{_safe(username)}.jwt"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(token)
        (self.folder / "last.json").write_text(json.dumps({"username": username}))
        return path

    def load(self, username: str | None = None) -> tuple[str, str]:
        """(username, token): the given user's saved token, or the last one saved."""
        if username is None:
            last = self.folder / "last.json"
            if not last.exists():
                raise ClientError(f"no saved token: run `{PROG} login USERNAME` first")
            username = str(json.loads(last.read_text())["username"])
        path = self.folder / f"{_safe(username)}.jwt"
        if not path.exists():
            raise ClientError(f"no saved token for {username!r}: run `{PROG} login {username}`")
        return username, path.read_text().strip()


def _safe(username: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else f"_{ord(ch):x}" for ch in username)
