"""Each mode's promise from DESIGN.md, checked against what auth committed and each consumer knows.

lazy, streams with outbox and hybrid promise every user exactly once in every service that should
know it; pubsub and direct publishing do not, so their losses are counted and reported instead.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

import httpx
from sqlalchemy import text

from bench.harness import PASSWORD, Variant
from common.db import make_engine
from common.settings import CONSUMER_SERVICES, Mode, Publish
from lab.processes import Stack


def promises_every_user(variant: Variant) -> bool:
    """True for the modes that promise that no user is lost."""
    if variant.mode in (Mode.LAZY, Mode.HYBRID):
        return True
    return variant.mode is Mode.STREAMS and variant.publish is Publish.OUTBOX


@dataclass
class ServiceTally:
    """What one consumer knows of the run's users."""

    known: int
    missing: list[int]
    duplicates: int  # provisioned records beyond one per known user
    call_statuses: dict[str, int] = field(default_factory=dict)


@dataclass
class PromiseCheck:
    """One variant's run against its promise."""

    variant: str
    promised: bool
    users: int
    services: dict[str, ServiceTally]
    lost: int  # users some service never learned (only allowed where nothing is promised)
    kept: bool

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def max_user_id(stack: Stack) -> int:
    """The highest user id auth has committed so far (0 for none)."""
    return max((uid for uid, _ in committed_users(stack)), default=0)


def committed_users(stack: Stack, after_id: int = 0) -> list[tuple[int, str]]:
    """Active users auth committed with an id above after_id: the truth a run is checked against."""
    engine = make_engine(stack.settings.database_url("auth"))
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text("SELECT id, username FROM users WHERE active AND id > :after ORDER BY id"),
                {"after": after_id},
            ).all()
    finally:
        engine.dispose()
    return [(int(r[0]), str(r[1])) for r in rows]


def _internal(stack: Stack, service: str, path: str) -> dict[str, Any]:
    return stack.client().internal(stack.spec(service).port, "GET", path, timeout=10.0)


def _known(stack: Stack) -> dict[str, set[int]]:
    return {
        s: {int(u["user_id"]) for u in _internal(stack, s, "known-users")["users"]}
        for s in CONSUMER_SERVICES
    }


def _call_everyone(stack: Stack, users: list[tuple[int, str]]) -> dict[str, dict[str, int]]:
    """Every user logs in and calls each consumer once; status counts per service."""
    gateway = f"http://127.0.0.1:{stack.settings.lab_gateway_port}"
    counts: dict[str, dict[str, int]] = {s: {} for s in CONSUMER_SERVICES}

    def one(name: str) -> list[tuple[str, int]]:
        with httpx.Client(base_url=gateway, timeout=30) as http:
            login = http.post("/auth/login", json={"username": name, "password": PASSWORD})
            if login.status_code != 200:
                return [(s, login.status_code) for s in CONSUMER_SERVICES]
            auth = {"Authorization": f"Bearer {login.json()['token']}"}
            return [(s, http.get(f"/{s}/whoami", headers=auth).status_code) for s in counts]

    with ThreadPoolExecutor(4) as pool:
        for results in pool.map(one, [name for _, name in users]):
            for service, status in results:
                counts[service][str(status)] = counts[service].get(str(status), 0) + 1
    return counts


def check_promise(
    stack: Stack, variant: Variant, after_id: int, settle_s: float = 20.0
) -> PromiseCheck:
    """Wait for the run's users to settle, then hold the variant to its promise.

    Event modes get until settle_s to deliver; a promised mode must deliver everyone, a lossy
    one may not. Then every user calls every service once."""
    users = committed_users(stack, after_id)
    ids = {uid for uid, _ in users}
    deadline = time.monotonic() + settle_s
    known = _known(stack)
    while variant.mode is not Mode.LAZY and time.monotonic() < deadline:
        if all(ids <= k for k in known.values()):
            break
        time.sleep(0.2)
        known = _known(stack)
    # Then every user calls every service: lazy provisioning serves them, and in an event mode
    # a user the events never brought is refused (403 unknown_user) and counted.
    calls = _call_everyone(stack, users)
    known = _known(stack)
    services = {}
    for service in CONSUMER_SERVICES:
        status = _internal(stack, service, "status")
        services[service] = ServiceTally(
            known=len(ids & known[service]),
            missing=sorted(ids - known[service]),
            duplicates=int(status["provisioned_records"]) - int(status["known_users"]),
            call_statuses=calls[service],
        )
    lost = len({uid for t in services.values() for uid in t.missing})
    promised = promises_every_user(variant)
    exact = all(t.duplicates == 0 for t in services.values())
    return PromiseCheck(
        variant=variant.label,
        promised=promised,
        users=len(ids),
        services=services,
        lost=lost,
        kept=exact and (lost == 0 or not promised),
    )
