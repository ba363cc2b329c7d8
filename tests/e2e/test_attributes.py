"""Attributes on a real stack: PATCH /users/me, the operator's changes on auth's own port, packed
tokens, and how each mode learns changes."""

from __future__ import annotations

import json
import secrets
import socket
from typing import Any

import httpx
import jwt
import pytest

from common.settings import Mode, Publish
from lab.processes import Stack
from tests.e2e.client import PASSWORD, client, gw
from tests.e2e.test_event_modes import CONSUMERS, status, switch
from tests.support import wait_for


@pytest.fixture
def stack(lazy_stack: Stack) -> Stack:
    return lazy_stack


def register(stack: Stack, **attributes: Any) -> tuple[int, str]:
    return client(stack).new_user("a", **attributes)


def patch(stack: Stack, token: str, body: Any = None, content: bytes | None = None) -> Any:
    return httpx.patch(
        f"{gw(stack)}/auth/users/me",
        json=body,
        content=content,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        timeout=30,
    )


def operator(stack: Stack, user_id: int | str, body: Any) -> Any:
    """The operator's change, on auth's own port with the internal token."""
    return httpx.patch(
        f"http://127.0.0.1:{stack.settings.lab_auth_port}/internal/users/{user_id}",
        json=body,
        headers={"X-Internal-Token": stack.settings.internal_token()},
        timeout=30,
    )


def raw(stack: Stack, request_line: str, body: bytes = b"") -> tuple[int, Any]:
    """Send one request to auth's port exactly as written (no client normalises the path):
    the status and the JSON body."""
    head = (
        f"{request_line}\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        f"X-Internal-Token: {stack.settings.internal_token()}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", stack.settings.lab_auth_port), timeout=30) as s:
        s.sendall(head.encode("latin-1") + body)
        answer = b""
        while chunk := s.recv(65536):
            answer += chunk
    status_line, _, rest = answer.partition(b"\r\n")
    payload = rest.split(b"\r\n\r\n", 1)[1]
    return int(status_line.split()[1]), json.loads(payload) if payload else None


def plan_seen(stack: Stack, service: str, token: str) -> Any:
    r = client(stack).whoami(service, token)
    assert r.status == 200, r.body
    return r.body["attributes"].get("plan")


def test_register_login_and_whoami_carry_attributes(stack: Stack) -> None:
    switch(stack, Mode.LAZY)
    _user_id, name = register(stack, display_name="Eve", email="eve@example.org")
    token = client(stack).token(name)
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["display_name"] == "Eve" and claims["plan"] == "free"
    assert claims["attributes_version"] == 1 and "email" not in claims
    body = client(stack).whoami("profiles", token).body
    assert body["attributes"] == {"display_name": "Eve", "plan": "free"}
    assert body["attributes_version"] == 1 and body["attributes_seen_at"]


@pytest.mark.parametrize(
    "body",
    [
        {"role": "admin"},
        {"plan": "pro"},
        {"plan": "free", "display_name": "Eve"},
        {"plan": "enterprise"},
        {"plan": None},
        {"display_name": 42},
        {"email": "nope"},
        {"display_name": "x" * 500},
        {},
        ["plan", "pro"],
        "pro",
    ],
)
def test_bad_patches_get_422_and_change_nothing(stack: Stack, body: Any) -> None:
    _, name = register(stack)
    token = client(stack).token(name)
    r = patch(stack, token, body)
    assert r.status_code == 422, r.text
    assert r.json()["error"] == "invalid_request" and r.json()["detail"]
    ok = patch(stack, token, {"display_name": "Ok"})
    assert ok.status_code == 200 and ok.json()["version"] == 2, ok.text
    assert ok.json()["attributes"]["plan"] == "free"


@pytest.mark.parametrize("plan", ["pro", "free"])
def test_a_new_user_cannot_choose_a_plan(stack: Stack, plan: str) -> None:
    body = {"username": f"a-{secrets.token_hex(4)}", "password": PASSWORD, "plan": plan}
    r = httpx.post(f"{gw(stack)}/auth/register", json=body, timeout=30)
    assert r.status_code == 422, r.text
    assert {"loc": ["body", "plan"], "msg": "Extra inputs are not permitted"} in r.json()["detail"]


def test_oversized_patch_is_413_and_bad_tokens_401(stack: Stack) -> None:
    _, name = register(stack)
    token = client(stack).token(name)
    big = b'{"display_name": "' + b"x" * 70_000 + b'"}'
    assert patch(stack, token, content=big).status_code == 413
    assert patch(stack, "not-a-token", {"display_name": "Zed"}).status_code == 401
    answer = patch(stack, token, {"email": "zed@example.org", "display_name": "Zed"}).json()
    assert answer["version"] == 2
    assert answer["attributes"] == {
        "display_name": "Zed",
        "email": "zed@example.org",
        "plan": "free",
    }


def test_the_operator_changes_any_attribute_on_auths_own_port(stack: Stack) -> None:
    user_id, name = register(stack, display_name="Olga")
    r = operator(stack, user_id, {"plan": "pro", "email": "olga@example.org"})
    assert r.status_code == 200, r.text
    assert r.json() == {
        "success": True,
        "user_id": user_id,
        "attributes": {"display_name": "Olga", "email": "olga@example.org", "plan": "pro"},
        "version": 2,
    }
    claims = jwt.decode(client(stack).token(name), options={"verify_signature": False})
    assert (claims["plan"], claims["attributes_version"]) == ("pro", 2)
    headers = {"X-Internal-Token": stack.settings.internal_token()}
    found = httpx.get(
        f"http://127.0.0.1:{stack.settings.lab_auth_port}/internal/users",
        params={"username": name.upper()},
        headers=headers,
        timeout=30,
    )
    assert found.json() == {"user_id": user_id, "username": name, "active": True}
    assert operator(stack, 2**63 - 1, {"plan": "pro"}).status_code == 404
    assert operator(stack, user_id, {"plan": "gold"}).status_code == 422
    # Never through the gateway, which holds no internal token.
    through = httpx.patch(
        f"{gw(stack)}/auth/internal/users/{user_id}", json={"plan": "free"}, timeout=30
    )
    assert through.status_code == 404
    assert operator(stack, user_id, {"display_name": "Olga"}).json()["version"] == 3


@pytest.mark.parametrize(
    "path",
    [
        "/internal/users/0",
        "/internal/users/-1",
        "/internal/users/+1",
        "/internal/users/%2B1",
        "/internal/users/1.0",
        "/internal/users/1e0",
        "/internal/users/%201",
        "/internal/users/1%20",
        "/internal/users/1_0",
        "/internal/users/007",
        "/internal/users/0x1",
        "/internal/users/%EF%BC%91",  # a fullwidth digit one
        "/internal/users/1%00",
        "/internal/users/9223372036854775808",
        "/internal/users/" + "9" * 4000,
        "/internal/users?username=a%00b",
        "/internal/users?username=a%E2%80%8Bb",  # a zero-width space
        "/internal/users?username=",
        "/internal/users",
    ],
)
def test_bad_ids_and_names_get_422_over_a_real_socket(stack: Stack, path: str) -> None:
    method = "GET" if "/internal/users/" not in path else "PATCH"
    status, body = raw(stack, f"{method} {path} HTTP/1.1", b'{"plan": "pro"}')
    assert status == 422, body
    assert body["success"] is False and body["error"] == "invalid_request" and body["detail"]


def test_an_id_spelled_with_an_escaped_digit_is_that_id(stack: Stack) -> None:
    user_id, _ = register(stack)
    escaped = "".join(f"%{ord(d):02X}" for d in str(user_id))
    status, body = raw(stack, f"PATCH /internal/users/{escaped} HTTP/1.1", b'{"plan": "pro"}')
    assert status == 200 and body["user_id"] == user_id and body["attributes"]["plan"] == "pro"


def test_lazy_mode_sees_a_change_only_with_a_new_token(stack: Stack) -> None:
    switch(stack, Mode.LAZY)
    user_id, name = register(stack)
    old = client(stack).token(name)
    assert plan_seen(stack, "profiles", old) == "free"
    assert operator(stack, user_id, {"plan": "pro"}).json()["version"] == 2
    assert plan_seen(stack, "profiles", old) == "free"  # stale until a new login
    new = client(stack).token(name)
    assert plan_seen(stack, "profiles", new) == "pro"
    assert plan_seen(stack, "profiles", old) == "pro"  # the newest version is kept
    assert client(stack).whoami("profiles", old).body["attributes_version"] == 2


@pytest.mark.parametrize(
    ("mode", "publish"),
    [(Mode.PUBSUB, Publish.DIRECT), (Mode.STREAMS, Publish.OUTBOX), (Mode.HYBRID, None)],
)
def test_event_modes_update_every_consumer_for_old_tokens(
    stack: Stack, mode: Mode, publish: Publish | None
) -> None:
    switch(stack, mode, publish)
    user_id, name = register(stack)
    token = client(stack).token(name)
    for service in CONSUMERS:
        wait_for(lambda s=service: plan_seen(stack, s, token) == "free", what=f"{service} user")
    before = {s: status(stack, s)["attribute_updates"] for s in CONSUMERS}
    assert operator(stack, user_id, {"plan": "pro"}).status_code == 200
    for service in CONSUMERS:
        wait_for(
            lambda s=service: plan_seen(stack, s, token) == "pro",
            what=f"{service} to serve the new plan",
        )
        assert status(stack, service)["attribute_updates"] > before[service]
        assert client(stack).whoami(service, token).body["attributes_version"] == 2
