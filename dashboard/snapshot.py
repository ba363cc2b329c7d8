"""One picture of the running stack for the page: processes, mode, counters, users × services."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from common.settings import CONSUMER_SERVICES, parse_replica
from dashboard.control import Control
from lab.knowledge import known_users, service_status

PAGE_SIZE_MAX = 200


def counters(statuses: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The headline counters, summed over auth processes and over consumer replicas (auth
    processes share one database: its figures come from any of them)."""
    auths = [st for name, st in statuses.items() if parse_replica(name)[0] == "auth"]
    consumers = [st for name, st in statuses.items() if parse_replica(name)[0] != "auth"]
    auth = auths[0] if auths else {}
    lags = [st["stream_lag"] for st in consumers if isinstance(st.get("stream_lag"), int)]

    def summed(key: str) -> int | None:
        return sum(st.get(key, 0) for st in auths) if auths else None

    return {
        "events_published": summed("events_published"),
        "events_lost": summed("events_lost"),
        "outbox_pending": auth.get("outbox_pending"),
        "registered_users": auth.get("known_users"),
        "events_received": sum(st.get("events_received", 0) for st in consumers),
        "unknown_user_refusals": sum(st.get("unknown_user_refusals", 0) for st in consumers),
        "stream_lag": max(lags) if lags else None,
        "dead_letters": sum(st.get("dead_lettered", 0) for st in consumers),
    }


def grid(
    known: dict[str, list[dict[str, Any]]], names: dict[int, str], page: int, size: int
) -> dict[str, Any]:
    """Users (newest first) against services, one page of rows, and a per-service summary."""
    cells: dict[int, dict[str, dict[str, Any]]] = {uid: {} for uid in names}
    summary: dict[str, dict[str, int]] = {}
    for service in CONSUMER_SERVICES:
        users = known.get(service)
        if users is None:
            continue
        tally = {"known": 0, "event": 0, "lazy": 0, "inactive": 0}
        for u in users:
            cells.setdefault(u["user_id"], {})[service] = {
                "by": u["discovered_by"],
                "since": u["known_since"],
                "active": u["active"],
            }
            tally["known"] += 1
            tally[u["discovered_by"]] = tally.get(u["discovered_by"], 0) + 1
            tally["inactive"] += 0 if u["active"] else 1
        summary[service] = tally
    ids = sorted(cells, reverse=True)
    size = max(1, min(size, PAGE_SIZE_MAX))
    pages = max(1, -(-len(ids) // size))
    page = max(0, min(page, pages - 1))
    rows = [
        {"user_id": uid, "username": names.get(uid), "cells": cells[uid]}
        for uid in ids[page * size : (page + 1) * size]
    ]
    return {
        "total": len(ids),
        "page": page,
        "pages": pages,
        "size": size,
        "rows": rows,
        "summary": summary,
        "unreachable": [s for s in CONSUMER_SERVICES if s not in known],
    }


@dataclass
class Snapshots:
    """Builds snapshots, sharing one between pollers that ask within `max_age` seconds."""

    control: Control
    max_age: float = 0.5
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _cached: tuple[float, dict[str, Any]] | None = None

    def stack_view(self) -> dict[str, Any]:
        """Processes, mode, counters and what each service knows (without the grid paging)."""
        with self._lock:
            if self._cached and time.monotonic() - self._cached[0] < self.max_age:
                return self._cached[1]
            stack = self.control.stack
            # three independent rounds of calls: side by side, the page waits for the slowest
            with ThreadPoolExecutor(3) as pool:
                rows_f = pool.submit(stack.status)
                statuses_f = pool.submit(service_status, stack)
                known_f = pool.submit(known_users, stack)
            rows, statuses = rows_f.result(), statuses_f.result()
            auth = statuses.get("auth", {})
            view = {
                "mode": auth.get("mode", stack.settings.mode.value),
                "publish": auth.get("publish", stack.settings.publish.value),
                "processes": rows,
                "services": list(CONSUMER_SERVICES),
                "counters": counters(statuses),
                "per_service": statuses,
                "known": known_f.result(),
                "last_user": self.control.last_user(),
                "at": time.time(),
            }
            self._cached = (time.monotonic(), view)
            return view

    def build(self, page: int, size: int) -> dict[str, Any]:
        """The page's whole state: the stack view plus one page of the grid."""
        view = dict(self.stack_view())
        with self.control.lock:
            names = dict(self.control.names)
        view["grid"] = grid(view.pop("known"), names, page, size)
        return view
