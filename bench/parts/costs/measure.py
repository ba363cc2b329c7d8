"""What the security measures cost, and whether login timing tells accounts apart.

Login answers for an unknown user, a wrong password and a deactivated user are timed side by side
(interleaved, through the gateway): they should not differ by more than noise. Signing and
verifying one event is timed in process with the stack's algorithm; PUBLISH is timed as the
admin user and as auth's restricted ACL user, to show what the ACL check costs.
"""

from __future__ import annotations

import asyncio
import secrets
import time

import jwt
import valkey.asyncio as avalkey

from bench.harness import PASSWORD, Harness, Variant
from bench.results import Security, Stats
from common.settings import Mode
from common.tokens import SigningKey, generate_private_key, public_jwk
from events import acl, names, signing
from events.model import user_event


async def login_timing(h: Harness, n: int) -> dict[str, Stats]:
    """Median-worthy samples (ms) of failed logins of each kind, interleaved."""
    status, known = await h.register_one()
    _, gone = await h.register_one()
    assert status == 201 and known and gone, "could not register the timing users"
    await h.login([gone])
    base = f"http://{h.host}:{h.gateway_port}/auth"
    await h.http.delete(f"{base}/users/me", headers={"Authorization": f"Bearer {gone.token}"})
    kinds = {
        "unknown": lambda: (f"nobody-{secrets.token_hex(6)}", PASSWORD),
        "wrong_password": lambda: (known.name, "not the password 42"),
        "deactivated": lambda: (gone.name, PASSWORD),
    }
    samples: dict[str, list[float]] = {k: [] for k in kinds}
    for _ in range(n):
        for kind, credentials in kinds.items():
            username, password = credentials()
            started = time.perf_counter()
            r = await h.http.post(
                f"{base}/login", json={"username": username, "password": password}
            )
            elapsed = (time.perf_counter() - started) * 1000
            if r.status_code == 401:
                samples[kind].append(elapsed)
    return {k: Stats.of(v) for k, v in samples.items()}


def signing_cost(alg: str, n: int) -> tuple[Stats, Stats]:
    """(sign, verify) of one event in ms, in process, with a fresh key of the stack's alg."""
    key = SigningKey(kid="bench", alg=alg, private_key=generate_private_key(alg))
    public = jwt.PyJWK(public_jwk(key), algorithm=alg)

    async def lookup(kid: str) -> jwt.PyJWK | None:
        return public

    event = user_event(names.USER_REGISTERED, 1, "bench-user")
    signed, sign_ms = "", []
    for _ in range(n):
        started = time.perf_counter()
        signed = signing.sign(event, key)
        sign_ms.append((time.perf_counter() - started) * 1000)

    async def verify_all() -> list[float]:
        out = []
        for _ in range(n):
            started = time.perf_counter()
            await signing.verify(signed, lookup)
            out.append((time.perf_counter() - started) * 1000)
        return out

    return Stats.of(sign_ms), Stats.of(asyncio.run(verify_all()))


async def publish_cost(h: Harness, n: int) -> tuple[Stats, Stats]:
    """(as admin, as auth's ACL user) PUBLISH round trips in ms, interleaved, in lazy mode so
    that no consumer is subscribed to receive them."""
    await h.switch(Variant(Mode.LAZY, None))
    settings = h.stack.settings
    admin = avalkey.Valkey.from_url(settings.effective_valkey_url)
    restricted = avalkey.Valkey.from_url(settings.valkey_url_as(acl.PUBLISHER))
    out: tuple[list[float], list[float]] = ([], [])
    try:
        for _ in range(n):
            for client, samples in zip((admin, restricted), out, strict=True):
                started = time.perf_counter()
                await client.publish(names.CHANNEL, "{}")
                samples.append((time.perf_counter() - started) * 1000)
    finally:
        await admin.aclose()
        await restricted.aclose()
    return Stats.of(out[0]), Stats.of(out[1])


async def measure(h: Harness, logins: int, events: int) -> Security:
    """Every security figure of one run."""
    timing = await login_timing(h, logins)
    alg = h.stack.settings.lab_jwt_alg.value
    sign, verify = await asyncio.to_thread(signing_cost, alg, events)
    admin, restricted = await publish_cost(h, events)
    return Security(
        login_unknown=timing["unknown"],
        login_wrong_password=timing["wrong_password"],
        login_deactivated=timing["deactivated"],
        event_alg=alg,
        event_sign=sign,
        event_verify=verify,
        publish_admin=admin,
        publish_acl_user=restricted,
    )
