"""Key rotation and revocation on a running stack: a rotation refuses no valid token, and a
revoked key's tokens are refused within the services' JWKS cache lifetime."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

import httpx
import jwt

from auth.keys import revoke, rotate
from lab.processes import Stack
from tests.e2e.client import PASSWORD, client, fresh, gw
from tests.support import wait_for

# Mostly calls, some logins: each login hashes a password, and eight at once on two cores
# would measure the hashing, not the rotation.
CALLS_PER_LOGIN = ("profiles", "notifications") * 5
JWKS_TTL = "2"  # seconds: the publication lead is then 3 s, so the test stays short


def _outcome(r: httpx.Response, what: str) -> tuple[int, str, str]:
    return (r.status_code, what, "" if r.status_code == 200 else r.text[:120])


def test_logins_and_calls_across_two_rotations_get_no_401(stack_factory: Any) -> None:
    stack: Stack = stack_factory(LAB_JWKS_CACHE_TTL=JWKS_TTL)
    settings = stack.settings
    names = [fresh() for _ in range(8)]
    for name in names:
        assert client(stack).register(name, PASSWORD).status == 201
    statuses: Counter[tuple[int, str, str]] = Counter()
    kids: Counter[str] = Counter()
    stop = threading.Event()
    lock = threading.Lock()

    def user(name: str) -> None:
        with httpx.Client(base_url=gw(stack), timeout=30) as client:
            while not stop.is_set():
                r = client.post("/auth/login", json={"username": name, "password": PASSWORD})
                codes = [_outcome(r, "login")]
                if r.status_code == 200:
                    token = r.json()["token"]
                    auth = {"Authorization": f"Bearer {token}"}
                    for service in CALLS_PER_LOGIN:
                        w = client.get(f"/{service}/whoami", headers=auth)
                        codes.append(_outcome(w, service))
                    with lock:
                        kids[jwt.get_unverified_header(token)["kid"]] += 1
                with lock:
                    statuses.update(codes)

    def signed_with(kid: str) -> bool:
        with lock:
            return kids[kid] > 0

    threads = [threading.Thread(target=user, args=(n,), daemon=True) for n in names]
    for t in threads:
        t.start()
    try:
        wait_for(lambda: sum(kids.values()) >= 8, timeout=60, what="every user to log in")
        for _ in range(2):
            r = rotate(settings.keys_dir, settings.lab_jwt_alg.value, settings.key_publish_lead)
            wait_for(lambda r=r: signed_with(r.kid), timeout=60, what=f"{r.kid} to sign")
        seen = sum(kids.values())
        wait_for(lambda: sum(kids.values()) >= seen + 8, timeout=60, what="more logins")
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=60)
    assert len(kids) == 3, kids  # the first key and both rotated ones signed tokens
    refused = {k: n for k, n in statuses.items() if k[0] != 200}
    assert not refused and statuses, refused


def test_a_revoked_keys_tokens_are_refused_within_the_cache_lifetime(stack_factory: Any) -> None:
    stack: Stack = stack_factory(LAB_JWKS_CACHE_TTL=JWKS_TTL)
    settings = stack.settings
    name = fresh()
    client(stack).register(name, PASSWORD)
    token = client(stack).token(name)
    assert client(stack).whoami("profiles", token).status == 200
    kid = jwt.get_unverified_header(token)["kid"]
    new_kid = revoke(settings.keys_dir, kid, settings.lab_jwt_alg.value)
    assert new_kid and new_kid != kid
    jwks = httpx.get(f"{settings.auth_url}/.well-known/jwks.json").json()
    published = {k["kid"] for k in jwks["keys"]}
    assert kid not in published and new_kid in published
    wait_for(
        lambda: client(stack).whoami("profiles", token).status == 401,
        timeout=float(JWKS_TTL) + 3,
        what="profiles to refuse the revoked key's token",
    )
    fresh_token = client(stack).token(name)
    assert jwt.get_unverified_header(fresh_token)["kid"] == new_kid
    assert client(stack).whoami("profiles", fresh_token).status == 200
    assert client(stack).whoami("notifications", fresh_token).status == 200
