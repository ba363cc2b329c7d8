"""The seed's flow end to end through the gateway, on a stack started the way `cli.py up` does."""

from __future__ import annotations

import json
import secrets
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import jwt
import pytest

from auth.keys import KeyStore
from common.tokens import mint_access_token
from lab.processes import Stack

PASSWORD = "correct horse battery"


def gw(stack: Stack) -> str:
    return f"http://127.0.0.1:{stack.settings.lab_gateway_port}"


def register(stack: Stack, name: str, password: str = PASSWORD) -> httpx.Response:
    return httpx.post(
        f"{gw(stack)}/auth/register", json={"username": name, "password": password}, timeout=30
    )


def login(stack: Stack, name: str, password: str = PASSWORD) -> str:
    r = httpx.post(
        f"{gw(stack)}/auth/login", json={"username": name, "password": password}, timeout=30
    )
    assert r.status_code == 200, r.text
    return str(r.json()["token"])


def whoami(stack: Stack, service: str, token: str) -> httpx.Response:
    return httpx.get(
        f"{gw(stack)}/{service}/whoami", headers={"Authorization": f"Bearer {token}"}, timeout=30
    )


def internal(stack: Stack, name: str, path: str) -> Any:
    return stack.client().internal(stack.spec(name).port, "GET", path)


def fresh() -> str:
    return f"user-{secrets.token_hex(4)}"


def test_seed_flow_and_lazy_discovery(lazy_stack: Stack) -> None:
    name = fresh()
    r = register(lazy_stack, name)
    assert r.status_code == 201 and r.json()["success"] is True
    user_id = r.json()["user_id"]
    assert isinstance(user_id, int)
    token = login(lazy_stack, name)
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["user_id"] == user_id and claims["sub"] == str(user_id)
    known = {u["user_id"] for u in internal(lazy_stack, "profiles", "known-users")["users"]}
    assert user_id not in known
    first = whoami(lazy_stack, "profiles", token)
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["discovered_by"] == "lazy" and body["first_call"] is True
    assert body["user_id"] == user_id and body["service"] == "profiles"
    again = whoami(lazy_stack, "profiles", token).json()
    assert again["first_call"] is False and again["known_since"] == body["known_since"]
    users = internal(lazy_stack, "profiles", "known-users")["users"]
    assert any(
        u["user_id"] == user_id and u["discovered_by"] == "lazy" and u["active"] for u in users
    )


def test_concurrent_first_calls_provision_once(lazy_stack: Stack) -> None:
    name = fresh()
    user_id = register(lazy_stack, name).json()["user_id"]
    token = login(lazy_stack, name)
    before = {s: internal(lazy_stack, s, "status") for s in ("profiles", "notifications")}
    with ThreadPoolExecutor(40) as pool:
        replies = list(
            pool.map(
                lambda i: whoami(lazy_stack, ("profiles", "notifications")[i % 2], token), range(40)
            )
        )
    assert all(r.status_code == 200 for r in replies), [r.text for r in replies]
    for service in ("profiles", "notifications"):
        firsts = [r for r in replies if r.json()["service"] == service and r.json()["first_call"]]
        assert len(firsts) == 1
        after = internal(lazy_stack, service, "status")
        assert after["lazy_provisions"] - before[service]["lazy_provisions"] == 1
        assert after["provisioned_records"] - before[service]["provisioned_records"] == 1
    me = httpx.get(
        f"{gw(lazy_stack)}/notifications/me", headers={"Authorization": f"Bearer {token}"}
    ).json()
    assert me["record"]["user_id"] == user_id


def test_registration_rules(lazy_stack: Stack) -> None:
    name = fresh()
    assert register(lazy_stack, name).status_code == 201
    taken = register(lazy_stack, name.upper())
    assert taken.status_code == 409 and taken.json() == {
        "success": False,
        "error": "username_taken",
    }
    # NFKC: a fullwidth spelling normalises to the same name.
    fullwidth = "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in name)
    assert register(lazy_stack, fullwidth).status_code == 409
    race = fresh()
    # Ten at once: taken-name answers count against the address (20 free per window).
    with ThreadPoolExecutor(10) as pool:
        codes = sorted(pool.map(lambda _: register(lazy_stack, race).status_code, range(10)))
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
    name = fresh()
    register(lazy_stack, name)
    wrong = httpx.post(
        f"{gw(lazy_stack)}/auth/login", json={"username": name, "password": "nope nope"}
    )
    unknown = httpx.post(
        f"{gw(lazy_stack)}/auth/login", json={"username": fresh(), "password": "nope nope"}
    )
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json() == {"success": False, "error": "invalid_credentials"}


def test_hostile_tokens_get_401_not_500(lazy_stack: Stack) -> None:
    token = login_new(lazy_stack)
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
            r = whoami(lazy_stack, service, bad)
            assert r.status_code == 401, (name, r.status_code, r.text)
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
    user_id = register(lazy_stack, fresh()).json()["user_id"]
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
            r = whoami(lazy_stack, service, bad)
            assert r.status_code == 401, (reason, r.text)
            assert r.json()["reason"] == reason
        r = httpx.patch(  # auth's own verifier holds the same rule
            f"{gw(lazy_stack)}/auth/users/me",
            json={"display_name": "Mallory"},
            headers={"Authorization": f"Bearer {bad}"},
            timeout=30,
        )
        assert r.status_code == 401 and r.json()["reason"] == reason, r.text
    assert whoami(lazy_stack, "profiles", token(now, s.lab_token_ttl)).status_code == 200


def login_new(stack: Stack) -> str:
    name = fresh()
    register(stack, name)
    return login(stack, name)


def test_deactivated_user_cannot_log_in_and_name_stays_taken(lazy_stack: Stack) -> None:
    name = fresh()
    register(lazy_stack, name)
    token = login(lazy_stack, name)
    r = httpx.delete(
        f"{gw(lazy_stack)}/auth/users/me", headers={"Authorization": f"Bearer {token}"}
    )
    assert r.status_code == 204
    bad = httpx.post(f"{gw(lazy_stack)}/auth/login", json={"username": name, "password": PASSWORD})
    assert bad.status_code == 401 and bad.json()["error"] == "invalid_credentials"
    assert register(lazy_stack, name).status_code == 409


def test_independent_jose_library_verifies_with_jwks(lazy_stack: Stack) -> None:
    from joserfc import jwt as jose_jwt
    from joserfc.jwk import KeySet

    token = login_new(lazy_stack)
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
    token = login_new(stack)
    stack.stop("profiles")
    r = whoami(stack, "profiles", token)
    assert r.status_code == 502 and r.json()["error"] == "upstream_unavailable"
    stack.start("profiles")
    assert whoami(stack, "profiles", token).status_code == 200
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
    users = [(register(stack, n).json()["user_id"], n) for n in (fresh() for _ in range(6))]
    ids = {uid for uid, _ in users}

    def everyone_known() -> bool:
        return all(
            ids <= {u["user_id"] for u in internal(stack, s, "known-users")["users"]}
            for s in ("profiles", "notifications-2")
        )

    from tests.support import wait_for

    wait_for(everyone_known, timeout=10, what="both services to know every user")
    for service in ("profiles", "notifications"):
        one = internal(stack, service, "status")
        two = internal(stack, f"{service}-2", "status")
        assert one["provisioned_records"] == one["known_users"] == two["known_users"] == 6
        assert one["event_provisions"] + two["event_provisions"] == 6
    token = login(stack, users[0][1])
    assert {whoami(stack, "profiles", token).status_code for _ in range(4)} == {200}
    stack.stop("profiles")  # the gateway falls back to the other replica
    assert whoami(stack, "profiles", token).status_code == 200
