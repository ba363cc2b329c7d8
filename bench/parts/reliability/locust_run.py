"""A headless locust run against the gateway, in a process of its own (locust patches the
standard library with gevent on import): a mix of calls, logins and registrations.

    python -m bench.parts.reliability.locust_run --host http://127.0.0.1:8000 --users 8 \
        --duration 30 --out load.json
"""

from __future__ import annotations

import argparse
import json
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import gevent
from locust import FastHttpUser, between, events, task
from locust.env import Environment

from bench.harness import PASSWORD
from common.settings import CONSUMER_SERVICES

STATUSES: Counter[str] = Counter()


class LabUser(FastHttpUser):
    """One person: registers once, logs in now and then, mostly calls the services."""

    wait_time = between(0.05, 0.3)
    network_timeout = 15.0
    connection_timeout = 5.0

    def on_start(self) -> None:
        self.username = f"soak-{uuid.uuid4().hex[:12]}"
        self.token: str | None = None
        self.client.post(
            "/auth/register",
            json={"username": self.username, "password": PASSWORD},
            name="register",
        )
        self.login()

    @task(3)
    def login(self) -> None:
        body = {"username": self.username, "password": PASSWORD}
        with self.client.post("/auth/login", json=body, name="login", catch_response=True) as r:
            if r.status_code == 200:
                self.token = r.json()["token"]

    @task(16)
    def call(self) -> None:
        if self.token is None:  # registration or login failed during a fault: try again
            self.on_start()
            return
        service = CONSUMER_SERVICES[self._calls % len(CONSUMER_SERVICES)]
        self._calls += 1
        self.client.get(
            f"/{service}/whoami",
            headers={"Authorization": f"Bearer {self.token}"},
            name="call",
        )

    @task(1)
    def register(self) -> None:
        name = f"soak-{uuid.uuid4().hex[:12]}"
        self.client.post(
            "/auth/register", json={"username": name, "password": PASSWORD}, name="register"
        )

    _calls = 0


@events.request.add_listener
def _count(name: str, response: Any, exception: Any, **_: Any) -> None:
    status = getattr(response, "status_code", 0) or 0
    STATUSES[f"{name} {status or 'no_answer'}"] += 1


def summary(env: Environment) -> dict[str, Any]:
    """p50/p99 per request kind and overall, and answers by status."""

    def stats(entry: Any) -> dict[str, Any]:
        return {
            "requests": entry.num_requests,
            "p50_ms": entry.get_response_time_percentile(0.5),
            "p99_ms": entry.get_response_time_percentile(0.99),
            "rps": round(entry.total_rps, 1),
        }

    kinds = {name: stats(entry) for (name, _method), entry in env.stats.entries.items()}
    return {"total": stats(env.stats.total), "kinds": kinds, "statuses": dict(STATUSES)}


def started_marker(out: Path) -> Path:
    """The file that says the load has started."""
    return out.with_suffix(".started")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", required=True)
    parser.add_argument("--users", type=int, default=8)
    parser.add_argument("--spawn-rate", type=float, default=4.0)
    parser.add_argument("--duration", type=float, default=30.0)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    if not args.host.startswith(("http://127.", "http://localhost")):
        parser.error("load goes to this machine only (127.0.0.0/8)")
    env = Environment(user_classes=[LabUser], host=args.host, events=events)
    runner = env.create_local_runner()
    runner.start(args.users, spawn_rate=args.spawn_rate)
    started_marker(args.out).touch()  # the run's clock starts now, not at the process start
    gevent.spawn_later(args.duration, runner.quit)
    runner.greenlet.join()
    args.out.write_text(json.dumps(summary(env), indent=2))


if __name__ == "__main__":
    main()
