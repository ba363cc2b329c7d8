"""What packing attributes into a token costs, and what encrypting it costs, per call.

In-process, with the product's own minting, verification and JWE code: token bytes against the
attributes packed; verify time and header bytes per 100 added bytes of attributes (a
least-squares slope over the points); decrypt-and-verify against verify alone. Steady calls
through the gateway with a plain and with an encrypted token are measured on the stack
(bench.run), in the same run.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable

import jwt
from joserfc.jwk import RSAKey

from bench.harness import Harness, Variant
from bench.loadgen import closed_loop, get_request
from bench.results import Stats, TokenCosts, TokenPoint
from common import sealed
from common.settings import CONSUMER_SERVICES, Mode, Settings
from common.tokens import SigningKey, generate_private_key, mint_access_token, public_jwk
from common.tokens import verify_token as verify

ISSUER, AUDIENCE = "https://issuer.bench", "discovery-lab"
TTL = 900
LEEWAY = int(Settings.model_fields["lab_clock_leeway"].default)
HEADER = len("Authorization: Bearer \r\n")
# Attribute sets packed at login, smallest first: none, the default claims, all three, and the
# longest values the rules allow (64-character name, 254-character email).
PACKINGS: list[tuple[str, dict[str, str]]] = [
    ("none", {}),
    ("plan", {"plan": "pro"}),
    ("display_name,plan", {"display_name": "Ada Lovelace", "plan": "pro"}),
    (
        "display_name,email,plan",
        {"display_name": "Ada Lovelace", "email": "ada@example.org", "plan": "pro"},
    ),
    (
        "all three, longest values",
        {"display_name": "A" * 64, "email": "a" * 64 + "@" + "b" * 185 + ".org", "plan": "pro"},
    ),
]


def _verify(token: str, keys: dict[str, jwt.PyJWK]) -> object:
    return verify(token, keys, issuer=ISSUER, audience=AUDIENCE, max_lifetime=TTL, leeway=LEEWAY)


def _median_us(call: Callable[[], object], n: int) -> float:
    times = []
    for _ in range(n):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1e6)
    return round(statistics.median(times), 2)


def _slope(xs: list[float], ys: list[float]) -> float:
    """Least-squares slope of ys over xs, per 100 units of x."""
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    num = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
    den = sum((x - mx) ** 2 for x in xs)
    return round(100 * num / den, 3) if den else 0.0


def measure(samples: int) -> TokenCosts:
    """Mint one token per packing and time verification with and without encryption."""
    key = SigningKey("bench", "RS256", generate_private_key("RS256"))
    keys = {"bench": jwt.PyJWK(public_jwk(key), algorithm="RS256")}
    private = RSAKey.generate_key(sealed.KEY_BITS, private=True)
    public = sealed.public_half(private)
    points = []
    for label, attributes in PACKINGS:
        token = mint_access_token(
            key,
            user_id=12345,
            issuer=ISSUER,
            audience=AUDIENCE,
            client_id="bench",
            ttl=TTL,
            attributes=attributes,
            attributes_version=1 if attributes else None,
        )
        wrapped = sealed.seal(token, public)
        claims = {**attributes, "attributes_version": 1} if attributes else {}
        packed_bytes = len(json.dumps(claims, separators=(",", ":"))) if claims else 0

        def plain(t: str = token) -> object:
            return _verify(t, keys)

        def opened(w: str = wrapped) -> object:
            return _verify(sealed.unseal(w, private), keys)

        points.append(
            TokenPoint(
                packed=label,
                attributes=len(attributes),
                attribute_bytes=packed_bytes,
                token_bytes=len(token),
                header_bytes=HEADER + len(token),
                sealed_bytes=len(wrapped),
                verify_us=_median_us(plain, samples),
                decrypt_verify_us=_median_us(opened, max(20, samples // 5)),
            )
        )
    sizes = [float(p.attribute_bytes) for p in points]
    return TokenCosts(
        points=points,
        verify_us_per_100_bytes=_slope(sizes, [p.verify_us for p in points]),
        header_bytes_per_100_bytes=_slope(sizes, [float(p.header_bytes) for p in points]),
        sealed_bytes_per_100_bytes=_slope(sizes, [float(p.sealed_bytes) for p in points]),
        decrypt_verify_us_per_100_bytes=_slope(sizes, [p.decrypt_verify_us for p in points]),
        samples_per_point=samples,
    )


async def gateway_steady(h: Harness, calls: int) -> tuple[Stats, Stats]:
    """Steady /whoami through the gateway in lazy mode: with a plain token, then with auth and
    the consumers restarted under LAB_TOKEN_ENCRYPT and an encrypted token; restored after."""
    await h.switch(Variant(Mode.LAZY, None))
    readers = ("auth", *CONSUMER_SERVICES)
    plain = await _steady_ms(h, calls)
    saved = h.stack.env.get("LAB_TOKEN_ENCRYPT", "")
    await h.restart(readers, LAB_TOKEN_ENCRYPT="true")  # noqa: S106 - a switch, not a secret
    try:
        await h.switch(Variant(Mode.LAZY, None))
        encrypted = await _steady_ms(h, calls)
    finally:
        await h.restart(readers, LAB_TOKEN_ENCRYPT=saved)
    return plain, encrypted


async def _steady_ms(h: Harness, calls: int) -> Stats:
    (user,) = await h.register(1, prefix="tok")
    await h.login([user])
    request = get_request(f"/{CONSUMER_SERVICES[0]}/whoami", user.token)
    await closed_loop(h.host, h.gateway_port, lambda i: request, total=20)  # first call, warm-up
    result = await closed_loop(h.host, h.gateway_port, lambda i: request, total=calls)
    refused = [status for status in result.statuses if status != 200]
    if refused:
        raise RuntimeError(f"steady calls refused: {refused[:5]}")
    return Stats.of(result.latencies)
