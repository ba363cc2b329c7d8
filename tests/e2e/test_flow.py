"""The seed's flow end to end through the gateway, on a stack started the way `cli.py up` does."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import jwt
import pytest

from auth.keys import KeyStore
from common.tokens import mint_access_token
from lab.processes import Stack
from tests.e2e.client import PASSWORD, client, fresh, gw


def test_seed_flow_and_lazy_discovery(lazy_stack: Stack) -> None:
    lab = client(lazy_stack)
    name = fresh()
    r = lab.register(name, PASSWORD)
    assert r.status == 201 and r.body["success"] is True
    user_id = r.body["user_id"]
    assert isinstance(user_id, int)
    token = lab.token(name)
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["user_id"] == user_id and claims["sub"] == str(user_id)
    assert user_id not in lab.known("profiles")
    first = lab.whoami("profiles", token)
    assert first.status == 200, first.body
    body = first.body
    assert body["discovered_by"] == "lazy" and body["first_call"] is True
    assert body["user_id"] == user_id and body["service"] == "profiles"
    again = lab.whoami("profiles", token).body
    assert again["first_call"] is False and again["known_since"] == body["known_since"]
    known = lab.known("profiles")[user_id]
    assert known["discovered_by"] == "lazy" and known["active"]


def test_concurrent_first_calls_provision_once(lazy_stack: Stack) -> None:
    lab = client(lazy_stack)
    user_id, name = lab.new_user()
    token = lab.token(name)
    before = {s: lab.status(s) for s in ("profiles", "notifications")}
    with ThreadPoolExecutor(40) as pool:
        replies = list(
            pool.map(lambda i: lab.whoami(("profiles", "notifications")[i % 2], token), range(40))
        )
    assert all(r.status == 200 for r in replies), [r.body for r in replies]
    for service in ("profiles", "notifications"):
        firsts = [r for r in replies if r.body["service"] == service and r.body["first_call"]]
        assert len(firsts) == 1
        after = lab.status(service)
        assert after["lazy_provisions"] - before[service]["lazy_provisions"] == 1
        assert after["provisioned_records"] - before[service]["provisioned_records"] == 1
    me = httpx.get(
        f"{gw(lazy_stack)}/notifications/me", headers={"Authorization": f"Bearer {token}"}
    ).json()
    assert me["record"]["user_id"] == user_id


def test_registration_rules(lazy_stack: Stack) -> None:
    lab = client(lazy_stack)
    name = fresh()
    assert lab.register(name, PASSWORD).status == 201
    taken = lab.register(name.upper(), PASSWORD)
    assert taken.status == 409 and taken.body == {
        "success": False,
        "error": "username_taken",
    }
    # NFKC: a fullwidth spelling normalises to the same name.
    fullwidth = "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in name)
    assert lab.register(fullwidth, PASSWORD).status == 409
    race = fresh()
    # Ten at once: taken-name answers count against the address (20 free per window).
    with ThreadPoolExecutor(10) as pool:
        codes = sorted(pool.map(lambda _: lab.register(race, PASSWORD).status, range(10)))
    assert codes.count(201) == 1 and codes.count(409) == 9


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"[]",
        b'{"username": "abc"}',
        b'{"password": "long enough pw"}',
        b'{"username": "ab", "password": "long enough pw"}',
        b'{"username": "okname", "password": "short"}',
        json.dumps({"username": "okname", "password": "x" * 1025}).encode(),
        json.dumps({"username": "x" * 65, "password": "long enough pw"}).encode(),
        b'{"username": 5, "password": "long enough pw"}',
    ],
)
def test_invalid_registration_is_422(lazy_stack: Stack, body: bytes) -> None:
    r = httpx.post(
        f"{gw(lazy_stack)}/auth/register",
        content=body,
        headers={"Content-Type": "application/json"},
    )
    assert r.status_code == 422, r.text


def test_oversized_body_is_413(lazy_stack: Stack) -> None:
    big = json.dumps({"username": "abc", "password": "p" * 70_000}).encode()
    for base in (gw(lazy_stack), lazy_stack.settings.auth_url):
        r = httpx.post(
            f"{base}/register"
            if base.endswith(str(lazy_stack.settings.lab_auth_port))
            else f"{base}/auth/register",
            content=big,
            headers={"Content-Type": "application/json"},
        )
        assert r.status_code == 413, r.text


def test_login_failures_look_the_same(lazy_stack: Stack) -> None:
    _, name = client(lazy_stack).new_user()
    wrong = httpx.post(
        f"{gw(lazy_stack)}/auth/login", json={"username": name, "password": "nope nope"}
    )
    unknown = httpx.post(
        f"{gw(lazy_stack)}/auth/login", json={"username": fresh(), "password": "nope nope"}
    )
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json() == {"success": False, "error": "invalid_credentials"}


def test_hostile_tokens_get_401_not_500(lazy_stack: Stack) -> None:
    lab = client(lazy_stack)
    token = lab.new_token()
    head, payload, sig = token.split(".")
    forged_payload = payload[:-2] + ("AA" if payload[-2:] != "AA" else "BB")
    none_header = "eyJhbGciOiJub25lIiwidHlwIjoiYXQrand0In0"
    hostile = {
        "tampered payload": f"{head}.{forged_payload}.{sig}",
        "tampered signature": f"{head}.{payload}.{sig[::-1]}",
        "alg none": f"{none_header}.{payload}.",
        "garbage": "abc.def.ghi",
        "not a jwt": "hello",
    }
    for name, bad in hostile.items():
        for service in ("profiles", "notifications"):
            r = lab.whoami(service, bad)
            assert r.status == 401, (name, r.status, r.body)
    raw = httpx.get(
        f"{gw(lazy_stack)}/profiles/whoami",
        headers={b"Authorization": "Bearer \u00fc.\u00fc.\u00fc".encode()},
    )
    assert raw.status_code == 401
    missing = httpx.get(f"{gw(lazy_stack)}/profiles/whoami")
    assert missing.status_code == 401
    basic = httpx.get(f"{gw(lazy_stack)}/profiles/whoami", headers={"Authorization": "Basic x"})
    assert basic.status_code == 401


def test_tokens_from_the_future_or_living_too_long_get_401(lazy_stack: Stack) -> None:
    """Signed with the stack's own active key: only the times are wrong."""
    s = lazy_stack.settings
    key = KeyStore(s.keys_dir, s.lab_jwt_alg.value, s.lab_token_ttl).active
    lab = client(lazy_stack)
    user_id, _ = lab.new_user()
    now = int(time.time())

    def token(iat: int, ttl: int) -> str:
        return mint_access_token(
            key,
            user_id=user_id,
            issuer=s.lab_issuer,
            audience=s.lab_audience,
            client_id="e2e",
            ttl=ttl,
            now=iat,
        )

    cases = {
        token(now + s.lab_clock_leeway + 60, 60): "iat_in_future",
        token(now, s.lab_token_ttl + 1): "lifetime_too_long",
        token(now, 10 * 365 * 24 * 3600): "lifetime_too_long",
    }
    for bad, reason in cases.items():
        for service in ("profiles", "notifications"):
            reply = lab.whoami(service, bad)
            assert reply.status == 401, (reason, reply.body)
            assert reply.body["reason"] == reason
        r = httpx.patch(  # auth's own verifier holds the same rule
            f"{gw(lazy_stack)}/auth/users/me",
            json={"display_name": "Mallory"},
            headers={"Authorization": f"Bearer {bad}"},
            timeout=30,
        )
        assert r.status_code == 401 and r.json()["reason"] == reason, r.text
    assert lab.whoami("profiles", token(now, s.lab_token_ttl)).status == 200


def test_deactivated_user_cannot_log_in_and_name_stays_taken(lazy_stack: Stack) -> None:
    lab = client(lazy_stack)
    _, name = lab.new_user()
    token = lab.token(name)
    r = httpx.delete(
        f"{gw(lazy_stack)}/auth/users/me", headers={"Authorization": f"Bearer {token}"}
    )
    assert r.status_code == 204
    bad = httpx.post(f"{gw(lazy_stack)}/auth/login", json={"username": name, "password": PASSWORD})
    assert bad.status_code == 401 and bad.json()["error"] == "invalid_credentials"
    assert lab.register(name, PASSWORD).status == 409


def test_independent_jose_library_verifies_with_jwks(lazy_stack: Stack) -> None:
    from joserfc import jwt as jose_jwt
    from joserfc.jwk import KeySet

    token = client(lazy_stack).new_token()
    issuer = lazy_stack.settings.lab_issuer
    config = httpx.get(f"{issuer}/.well-known/openid-configuration").json()
    assert config["issuer"] == issuer
    jwks = httpx.get(config["jwks_uri"]).json()
    decoded = jose_jwt.decode(token, KeySet.import_key_set(jwks), algorithms=["RS256"])
    assert decoded.header["typ"] == "at+jwt" and decoded.header["kid"]
    assert decoded.claims["aud"] == "discovery-lab" and decoded.claims["iss"] == issuer
    assert set(decoded.claims) >= {"iss", "sub", "user_id", "aud", "client_id", "iat", "exp", "jti"}


def test_gateway_routing_and_internal_guard(lazy_stack: Stack) -> None:
    assert httpx.get(f"{gw(lazy_stack)}/nosuch/whoami").status_code == 404
    assert httpx.get(f"{gw(lazy_stack)}/profiles/internal/status").status_code == 404
    assert httpx.get(f"{gw(lazy_stack)}/auth/internal/status").status_code == 404
    port = lazy_stack.settings.lab_profiles_port
    assert httpx.get(f"http://127.0.0.1:{port}/internal/status").status_code == 401
    assert (
        httpx.get(
            f"http://127.0.0.1:{port}/internal/status", headers={"X-Internal-Token": "wrong"}
        ).status_code
        == 401
    )
    metrics = httpx.get(f"http://127.0.0.1:{port}/metrics").text
    assert "lab_known_users" in metrics
    for name in ("valkey", "auth", "profiles", "notifications", "gateway"):
        assert stack_health(lazy_stack, name)


def stack_health(stack: Stack, name: str) -> bool:
    return stack.healthy(stack.spec(name))


def test_down_service_gives_json_502(stack_factory: Any) -> None:
    stack = stack_factory()
    lab = client(stack)
    token = lab.new_token()
    stack.stop("profiles")
    r = lab.whoami("profiles", token)
    assert r.status == 502 and r.body["error"] == "upstream_unavailable"
    stack.start("profiles")
    assert lab.whoami("profiles", token).status == 200
    pids = [p["pid"] for p in stack.status() if p["pid"]]
    stack.down()
    import psutil

    assert not [
        p
        for p in pids
        if psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE
    ]


def test_replicas_share_one_database_and_one_consumer_group(stack_factory: Any) -> None:
    stack = stack_factory(replicas=2, LAB_MODE="streams")
    names = {p["name"] for p in stack.status() if p["healthy"]}
    assert {"profiles", "profiles-2", "notifications", "notifications-2"} <= names
    lab = client(stack)
    users = [lab.new_user() for _ in range(6)]
    ids = {uid for uid, _ in users}

    def everyone_known() -> bool:
        return all(ids <= set(lab.known(s)) for s in ("profiles", "notifications-2"))

    from tests.support import wait_for

    wait_for(everyone_known, timeout=10, what="both services to know every user")
    for service in ("profiles", "notifications"):
        one = lab.status(service)
        two = lab.status(f"{service}-2")
        assert one["provisioned_records"] == one["known_users"] == two["known_users"] == 6
        assert one["event_provisions"] + two["event_provisions"] == 6
    token = lab.token(users[0][1])
    assert {lab.whoami("profiles", token).status for _ in range(4)} == {200}
    stack.stop("profiles")  # the gateway falls back to the other replica
    assert lab.whoami("profiles", token).status == 200
