"""The "what if" acts: a real fault injected into the running stack, then what everyone knows."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from common.settings import CONSUMER_SERVICES, parse_replica
from demo.story import Recorder, Step, call, login, new_user, register
from lab.client import LabClient
from lab.knowledge import what_services_know
from lab.processes import Stack

GRACE_S = 4.0  # pub/sub: time for events already on their way; nothing else can come
CATCH_UP_S = 30.0  # streams: time for a consumer back from downtime to read what it missed
FAULTED = "notifications"  # the consumer that is away during registration


@dataclass
class Act:
    """One fault in one mode: what every service knows at the end, and what the user saw."""

    act: str
    mode: str
    publish: str
    user_id: int | None = None
    knew_before_calls: dict[str, Any] = field(default_factory=dict)
    knows: dict[str, Any] = field(default_factory=dict)
    user_saw: dict[str, Any] = field(default_factory=dict)
    outcome: str = ""
    steps: list[Step] = field(default_factory=list)


Known = dict[str, dict[str, Any] | None]


def settle(stack: Stack, user_id: int, done: Callable[[Known], bool], mode: str) -> Known:
    """What services know about the user once `done` holds, or once nothing more can arrive:
    at once in lazy mode, after a grace in pub/sub, when streams and outbox are drained."""
    started = time.monotonic()
    limit = 0.0 if mode == "lazy" else GRACE_S if mode == "pubsub" else CATCH_UP_S
    while True:
        known = what_services_know(stack, user_id)
        waited = time.monotonic() - started
        if done(known) or waited >= limit or (waited >= GRACE_S and _drained(stack)):
            return known
        time.sleep(0.1)


def _drained(stack: Stack) -> bool:
    """Nothing left to deliver: no outbox row unsent, no stream entry unread by any group."""
    rows = stack.status()
    return all(not r.get("outbox_pending") and not r.get("stream_lag") for r in rows)


def everyone_knows(known: Known) -> bool:
    return all(k is not None and not k.get("unreachable") for k in known.values())


def everyone_knows_inactive(known: Known) -> bool:
    return all(k is not None and k.get("active") is False for k in known.values())


def describe(known: Known, saw: dict[str, Any]) -> str:
    """One sentence: each service's knowledge and the user's answer from it."""
    parts = []
    for service in CONSUMER_SERVICES:
        k = known.get(service)
        knew = (
            "unreachable"
            if k and k.get("unreachable")
            else "never heard of the user"
            if k is None
            else f"knows it ({k['by']}{', deactivated' if not k['active'] else ''})"
        )
        answer = saw.get(service, {})
        reply = f"{answer.get('status')} {answer.get('error') or answer.get('discovered_by', '')}"
        parts.append(f"{service} {knew}; user got {reply.strip()}")
    return "; ".join(parts)


def _fault(rec: Recorder, what: str, action: Callable[[], object]) -> None:
    started = time.perf_counter()
    action()
    rec.add(Step("fault", what, (time.perf_counter() - started) * 1000))


def _replicas(stack: Stack, service: str) -> list[str]:
    return [s.name for s in stack.specs() if parse_replica(s.name)[0] == service]


def _subscribers_connected(stack: Stack) -> bool:
    rows = [r for r in stack.status() if parse_replica(r["name"])[0] in CONSUMER_SERVICES]
    return all(r.get("subscriber") in ("connected", "off") for r in rows)


def _wait(rec: Recorder, what: str, check: Callable[[], bool], timeout: float) -> None:
    started = time.perf_counter()
    deadline = time.monotonic() + timeout
    while not check() and time.monotonic() < deadline:
        time.sleep(0.1)
    rec.add(Step("demo", what, (time.perf_counter() - started) * 1000))


def _call_all(rec: Recorder, client: LabClient, token: str) -> dict[str, Any]:
    return {service: call(rec, client, service, token) for service in CONSUMER_SERVICES}


def _register_while_down(
    stack: Stack, client: LabClient, act: Act, rec: Recorder, names: list[str]
) -> None:
    """Stop `names`, register a user, start them again; then the user logs in and calls."""
    name, password = new_user()
    for process in names:
        _fault(rec, f"stop {process}", functools.partial(stack.stop, process))
    try:
        act.user_id = int(register(rec, client, name, password, act.mode).body["user_id"])
    finally:
        for process in names:
            _fault(rec, f"start {process}", functools.partial(stack.start, process))
    _wait(rec, "subscribers connected", lambda: _subscribers_connected(stack), 15.0)
    act.knew_before_calls = settle(stack, act.user_id, everyone_knows, act.mode)
    token = str(login(rec, client, name, password).body["token"])
    act.user_saw = _call_all(rec, client, token)


def consumer_down(stack: Stack, client: LabClient, act: Act, rec: Recorder) -> None:
    """A consumer is down while a user registers; it comes back; the user logs in and calls."""
    _register_while_down(stack, client, act, rec, _replicas(stack, FAULTED))


def valkey_restarts(stack: Stack, client: LabClient, act: Act, rec: Recorder) -> None:
    """Valkey goes down, a user registers meanwhile, Valkey comes back (its AOF intact)."""
    _register_while_down(stack, client, act, rec, ["valkey"])


def deactivated_with_token(stack: Stack, client: LabClient, act: Act, rec: Recorder) -> None:
    """A user who holds a valid token is deactivated; the same token is used again."""
    name, password = new_user()
    act.user_id = int(register(rec, client, name, password, act.mode).body["user_id"])
    token = str(login(rec, client, name, password).body["token"])
    _call_all(rec, client, token)
    gone = client.deactivate(token)
    rec.add(Step("User → gateway → auth", "DELETE /auth/users/me", gone.ms, gone.status))
    act.knew_before_calls = settle(stack, act.user_id, everyone_knows_inactive, act.mode)
    act.user_saw = _call_all(rec, client, token)


VALKEY_ACT = "Valkey restarts while a user registers"
ACTS: dict[str, Callable[[Stack, LabClient, Act, Recorder], None]] = {
    "a consumer is down during registration": consumer_down,
    VALKEY_ACT: valkey_restarts,
    "a user is deactivated while holding a valid token": deactivated_with_token,
}


def play(
    title: str, stack: Stack, client: LabClient, mode: str, publish: str, rec: Recorder
) -> Act:
    """Run one act in the current mode; the outcome sentence closes it."""
    act = Act(title, mode, publish, steps=rec.steps)
    if title == VALKEY_ACT and "valkey" not in {s.name for s in stack.specs()}:
        act.outcome = "skipped: the stack uses an external Valkey (VALKEY_URL)"
        return act
    ACTS[title](stack, client, act, rec)
    if act.user_id is not None:
        act.knows = what_services_know(stack, act.user_id)
    act.outcome = describe(act.knows, act.user_saw)
    return act
