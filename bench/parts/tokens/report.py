"""The report's section on packed attributes and encrypted tokens, built from the run's figures."""

from __future__ import annotations

from typing import Any

from bench.parts.scenarios.names import NEW_VALUE_MAX_KEY, ScenarioId
from bench.report import Block, Heading, Para, T, Table
from bench.results import Results, Scenario, TokenCosts

ENCRYPTION_HIDES = (
    "Encryption hides what the token says (the user id and the packed attributes) from the "
    "client, the browser, proxies and logs that record the header: they see an opaque JWE. "
    "It does not make the token trustworthy: anyone holding the public half can encrypt, so "
    "integrity and origin still come only from the signature inside, which every service "
    "verifies as before. It does not hide who calls when, how often, or the token's size, and "
    "it does not stop a stolen token from being replayed."
)


def _figure(scenario: Scenario | None, label: str, key: str) -> Any:
    if scenario is None or label not in scenario.runs:
        return None
    return scenario.runs[label].figures.get(key)


def _event_max(scenario: Scenario | None) -> tuple[str, float] | None:
    """The event variant that served the new value last, and how late: the bound events give."""
    if scenario is None:
        return None
    late = [
        (label, float(run.figures[NEW_VALUE_MAX_KEY]))
        for label, run in scenario.runs.items()
        if not label.startswith("lazy") and run.figures.get(NEW_VALUE_MAX_KEY) is not None
    ]
    return max(late, key=lambda item: item[1]) if late else None


def packing_verdict(results: Results) -> str:
    """Whether "pack more into the token" holds, and under which condition, from the figures."""
    costs = results.token_costs
    scenario = next((s for s in results.scenarios if s.id == ScenarioId.ATTRIBUTE_CHANGE), None)
    ttl = _figure(scenario, "lazy", "stale_without_login_up_to_s")
    stale = _figure(scenario, "lazy", "still_stale_after_window")
    window = _figure(scenario, "lazy", "window_s")
    parts = []
    if costs is not None:
        parts.append(
            f"Packing is cheap per call: each 100 bytes of attributes add "
            f"{costs.header_bytes_per_100_bytes:.0f} bytes to every request header and "
            f"{costs.verify_us_per_100_bytes:+.1f} µs to a verification "
            f"({costs.points[0].verify_us:.0f} µs with nothing packed)."
        )
    if ttl is not None:
        parts.append(
            f"But a packed attribute is a copy frozen at login: in lazy mode {stale} user×service "
            f"pairs still served the old plan {window}s after the change, and a token keeps "
            f"its old value until a new login or its expiry (up to {ttl}s here)."
        )
    late = _event_max(scenario)
    if late is not None:
        parts.append(
            f"With events every service served the new value within {late[1]:.3f}s "
            f"(slowest: {late[0]})."
        )
    if ttl is not None:
        parts.append(
            f"Verdict: 'pack more into the token' holds for attributes that may be stale for one "
            f"token lifetime ({ttl}s) after a change, such as a display name; it does not hold "
            f"for attributes whose change must take effect at once, such as a plan or a "
            f"permission: those need events (or a short token lifetime and a forced re-login)."
        )
    return " ".join(parts) or "Not measured in this run."


def encryption_rows(costs: TokenCosts) -> list[list[str]]:
    """Per packing: size, verify, and decrypt plus verify."""
    return [
        [
            p.packed,
            str(p.attribute_bytes),
            str(p.token_bytes),
            str(p.sealed_bytes),
            f"{p.verify_us:.0f}",
            f"{p.decrypt_verify_us:.0f}",
            f"{p.decrypt_verify_us / p.verify_us:.1f}×" if p.verify_us else "",
        ]
        for p in costs.points
    ]


TOKEN_HEADERS = [
    "packed",
    "attribute bytes",
    "token bytes",
    "encrypted bytes",
    "verify µs",
    "decrypt + verify µs",
    "ratio",
]


def gateway_text(costs: TokenCosts) -> str:
    """Steady calls through the gateway with a plain and an encrypted token."""
    plain, sealed = costs.gateway_plain, costs.gateway_sealed
    if plain is None or sealed is None:
        return "Steady calls through the gateway were not measured in this run."
    return (
        f"Steady /whoami through the gateway, same run: p50 {plain.p50:.2f} ms with a plain token, "
        f"{sealed.p50:.2f} ms with an encrypted one (p95 {plain.p95:.2f} vs {sealed.p95:.2f} ms, "
        f"n={plain.n} each). A service decrypts a token once and then serves it from its cache "
        f"of verified tokens, so the decryption cost above is paid on a token's first call."
    )


def section(results: Results, charts: bool) -> list[Block]:
    """Packed attributes and encrypted tokens: size, cost per call, and the verdict."""
    costs = results.token_costs
    if costs is None:
        return []
    rows = [[T(cell) for cell in row] for row in encryption_rows(costs)]
    return [
        Heading(2, "Tokens: packing attributes and encrypting", "tokens"),
        Para(packing_verdict(results)),
        Table(TOKEN_HEADERS, rows, "Token size and per-call cost (in process)"),
        Para(
            f"Per 100 bytes of packed attributes: +{costs.header_bytes_per_100_bytes:.0f} header "
            f"bytes, {costs.verify_us_per_100_bytes:+.1f} µs verify, "
            f"+{costs.sealed_bytes_per_100_bytes:.0f} encrypted-token bytes, "
            f"{costs.decrypt_verify_us_per_100_bytes:+.1f} µs decrypt + verify "
            f"(least-squares slopes over {len(costs.points)} packings, median of "
            f"{costs.samples_per_point} calls each)."
        ),
        Para(gateway_text(costs)),
        Para(ENCRYPTION_HIDES),
    ]
