"""Attributes on a real stack: PATCH /users/me, packed tokens, and how each mode learns changes."""

from __future__ import annotations

import secrets
from typing import Any

import httpx
import jwt
import pytest

from common.processes import Stack
from common.settings import Mode, Publish
from tests.e2e.test_event_modes import CONSUMERS, status, switch
from tests.e2e.test_flow import PASSWORD, gw, whoami
from tests.e2e.test_flow import login as token_for
from tests.support import wait_for


@pytest.fixture(scope="module")
def stack(lazy_stack: Stack) -> Stack:
    return lazy_stack


def register(stack: Stack, **attributes: Any) -> tuple[int, str]:
    name = f"a-{secrets.token_hex(4)}"
    body = {"username": name, "password": PASSWORD, **attributes}
    r = httpx.post(f"{gw(stack)}/auth/register", json=body, timeout=30)
    assert r.status_code == 201, r.text
    return int(r.json()["user_id"]), name


def patch(stack: Stack, token: str, body: Any = None, content: bytes | None = None) -> Any:
    return httpx.patch(
        f"{gw(stack)}/auth/users/me",
        json=body,
        content=content,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        timeout=30,
    )


def plan_seen(stack: Stack, service: str, token: str) -> Any:
    r = whoami(stack, service, token)
    assert r.status_code == 200, r.text
    return r.json()["attributes"].get("plan")


def test_register_login_and_whoami_carry_attributes(stack: Stack) -> None:
    switch(stack, Mode.LAZY)
    _user_id, name = register(stack, display_name="Eve", email="eve@example.org")
    token = token_for(stack, name)
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["display_name"] == "Eve" and claims["plan"] == "free"
    assert claims["attributes_version"] == 1 and "email" not in claims
    body = whoami(stack, "profiles", token).json()
    assert body["attributes"] == {"display_name": "Eve", "plan": "free"}
    assert body["attributes_version"] == 1 and body["attributes_seen_at"]


@pytest.mark.parametrize(
    "body",
    [
        {"role": "admin"},
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
    token = token_for(stack, name)
    r = patch(stack, token, body)
    assert r.status_code == 422, r.text
    assert r.json()["error"] == "invalid_request" and r.json()["detail"]
    ok = patch(stack, token, {"plan": "pro"})
    assert ok.status_code == 200 and ok.json()["version"] == 2, ok.text


def test_oversized_patch_is_413_and_bad_tokens_401(stack: Stack) -> None:
    _, name = register(stack)
    token = token_for(stack, name)
    big = b'{"display_name": "' + b"x" * 70_000 + b'"}'
    assert patch(stack, token, content=big).status_code == 413
    assert patch(stack, "not-a-token", {"plan": "pro"}).status_code == 401
    answer = patch(stack, token, {"plan": "pro", "display_name": "Zed"}).json()
    assert answer["version"] == 2
    assert answer["attributes"] == {"display_name": "Zed", "email": None, "plan": "pro"}


def test_lazy_mode_sees_a_change_only_with_a_new_token(stack: Stack) -> None:
    switch(stack, Mode.LAZY)
    _, name = register(stack)
    old = token_for(stack, name)
    assert plan_seen(stack, "profiles", old) == "free"
    assert patch(stack, old, {"plan": "pro"}).json()["version"] == 2
    assert plan_seen(stack, "profiles", old) == "free"  # stale until a new login
    new = token_for(stack, name)
    assert plan_seen(stack, "profiles", new) == "pro"
    assert plan_seen(stack, "profiles", old) == "pro"  # the newest version is kept
    assert whoami(stack, "profiles", old).json()["attributes_version"] == 2


@pytest.mark.parametrize(
    ("mode", "publish"),
    [(Mode.PUBSUB, Publish.DIRECT), (Mode.STREAMS, Publish.OUTBOX), (Mode.HYBRID, None)],
)
def test_event_modes_update_every_consumer_for_old_tokens(
    stack: Stack, mode: Mode, publish: Publish | None
) -> None:
    switch(stack, mode, publish)
    _user_id, name = register(stack)
    token = token_for(stack, name)
    for service in CONSUMERS:
        wait_for(lambda s=service: plan_seen(stack, s, token) == "free", what=f"{service} user")
    before = {s: status(stack, s)["attribute_updates"] for s in CONSUMERS}
    assert patch(stack, token, {"plan": "pro"}).status_code == 200
    for service in CONSUMERS:
        wait_for(
            lambda s=service: plan_seen(stack, s, token) == "pro",
            what=f"{service} to serve the new plan",
        )
        assert status(stack, service)["attribute_updates"] > before[service]
        assert whoami(stack, service, token).json()["attributes_version"] == 2
