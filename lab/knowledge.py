"""What each service knows, read over the internal API: its status and its known users."""

from __future__ import annotations

import contextlib
from typing import Any

import httpx

from common.settings import CONSUMER_SERVICES, parse_replica
from lab.processes import FRONTS, Stack


def service_status(stack: Stack, healthy: set[str] | None = None) -> dict[str, dict[str, Any]]:
    """Every reachable service's /internal/status, by process name."""
    out: dict[str, dict[str, Any]] = {}
    client = stack.client()
    for spec in stack.specs():
        if spec.kind != "http" or spec.name in FRONTS:
            continue
        if healthy is not None and spec.name not in healthy:
            continue
        with contextlib.suppress(httpx.HTTPError):
            out[spec.name] = client.internal(spec.port, "GET", "status", timeout=2.0)
    return out


def known_users(stack: Stack, healthy: set[str] | None = None) -> dict[str, list[dict[str, Any]]]:
    """Each consumer service's known users, from its first reachable replica (they share a
    database); a service with no reachable replica is left out."""
    found: dict[str, list[dict[str, Any]]] = {}
    client = stack.client()
    for spec in stack.specs():
        service = parse_replica(spec.name)[0]
        if service not in CONSUMER_SERVICES or service in found:
            continue
        if healthy is not None and spec.name not in healthy:
            continue
        # a replica may be down, or go away between the health probe and this call
        with contextlib.suppress(httpx.HTTPError, KeyError):
            found[service] = client.internal(spec.port, "GET", "known-users", timeout=2.0)["users"]
    return found


def what_services_know(stack: Stack, user_id: int) -> dict[str, dict[str, Any] | None]:
    """For one user: each consumer's record of it (by, since, active), None if unknown; a
    service that cannot be asked is reported as {"unreachable": True}."""
    known = known_users(stack)
    out: dict[str, dict[str, Any] | None] = {}
    for service in CONSUMER_SERVICES:
        if service not in known:
            out[service] = {"unreachable": True}
            continue
        row = next((u for u in known[service] if u["user_id"] == user_id), None)
        out[service] = (
            None
            if row is None
            else {"by": row["discovered_by"], "since": row["known_since"], "active": row["active"]}
        )
    return out
