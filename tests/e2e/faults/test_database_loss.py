"""A PostgreSQL restart under load, on a private cluster this test makes: services answer 503
while the database is gone, never hang or fail with 500, and recover by themselves."""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest

from bench.harness import PASSWORD, Variant
from bench.parts.reliability.postgres import PrivatePostgres, pg_bin_dir
from bench.parts.reliability.promise import check_promise, max_user_id
from bench.parts.reliability.soak import wait_subscribers
from common.db import ensure_pg_database
from common.settings import CONSUMER_SERVICES
from lab.processes import Stack
from tests.support import stack_env, wait_for

pytestmark = pytest.mark.slow

VARIANT = Variant.parse("streams+outbox")


@pytest.fixture
def private_pg() -> Iterator[PrivatePostgres]:
    bin_dir = pg_bin_dir()
    if bin_dir is None:
        reason = "initdb/pg_ctl not found under /usr/lib/postgresql/*/bin"
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true requires PostgreSQL's server binaries: {reason}")
        pytest.skip(reason)
    root = Path(tempfile.mkdtemp(prefix="lab-pg-"))
    pg = PrivatePostgres(root / "cluster", bin_dir)
    try:
        pg.init()
        pg.start()
        yield pg
    finally:
        pg.discard()
        shutil.rmtree(root, ignore_errors=True)


class Load:
    """Calls and registrations in a loop on a thread, every answer counted by status."""

    def __init__(self, gateway: str, token: str) -> None:
        self.gateway, self.token = gateway, token
        self.statuses: Counter[str] = Counter()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        auth = {"Authorization": f"Bearer {self.token}"}
        with httpx.Client(base_url=self.gateway, timeout=15.0) as http:
            while not self.stop.is_set():
                for path in ("/profiles/me", "/notifications/whoami"):
                    self._count(path, partial(http.get, path, headers=auth))
                body = {"username": f"pg-{uuid.uuid4().hex[:10]}", "password": PASSWORD}
                self._count("register", partial(http.post, "/auth/register", json=body))

    def _count(self, what: str, send: Callable[[], httpx.Response]) -> None:
        try:
            status = str(send().status_code)
        except httpx.TimeoutException:
            status = "hang"
        except httpx.HTTPError:
            status = "no_answer"
        self.statuses[f"{what} {status}"] += 1


def _status(http: httpx.Client, method: str, path: str, **kw: Any) -> int:
    return http.request(method, path, **kw).status_code


def _probes(http: httpx.Client, fresh: dict[str, str], token: str) -> dict[str, Callable[[], int]]:
    """One request per service that needs its database: a registration, and a profile read."""
    auth = {"Authorization": f"Bearer {token}"}
    return {
        "auth": partial(_status, http, "POST", "/auth/register", json=fresh),
        "profiles": partial(_status, http, "GET", "/profiles/me", headers=auth),
    }


def _each_answers(
    probes: dict[str, Callable[[], int]], wanted: dict[str, int], timeout: float, what: str
) -> None:
    """Wait until each service's probe answers the status wanted of it."""
    for name, status in wanted.items():
        wait_for(
            lambda probe=probes[name], status=status: probe() == status,
            timeout=timeout,
            what=f"{name} answering {status} {what}",
        )


def test_postgres_restart_under_load(private_pg: PrivatePostgres, tmp_path: Path) -> None:
    env: dict[str, Any] = {
        "AUTH_DATABASE_URL": private_pg.url("auth"),
        "PROFILES_DATABASE_URL": private_pg.url("profiles"),
        "NOTIFICATIONS_DATABASE_URL": private_pg.url("notifications"),
        "LAB_MODE": VARIANT.mode.value,
        "LAB_PUBLISH": "outbox",
    }
    stack = Stack(env=stack_env(tmp_path / "state", **env))
    for service in ("auth", *CONSUMER_SERVICES):
        ensure_pg_database(stack.settings.database_url(service))
    stack.up()
    try:
        wait_subscribers(stack, VARIANT.mode)
        after_id = max_user_id(stack)
        gateway = f"http://127.0.0.1:{stack.settings.lab_gateway_port}"
        http = httpx.Client(base_url=gateway, timeout=15.0)
        me = {"username": f"pg-{uuid.uuid4().hex[:10]}", "password": PASSWORD}
        assert _status(http, "POST", "/auth/register", json=me) == 201
        token = http.post("/auth/login", json=me).json()["token"]
        pids = {spec.name: stack.pid(spec.name) for spec in stack.specs()}
        load = Load(gateway, token)
        load.thread.start()
        wait_for(lambda: load.statuses["register 201"] >= 3, timeout=60, what="load running")

        private_pg.stop()
        fresh = {"username": f"pg-{uuid.uuid4().hex[:10]}", "password": PASSWORD}
        probes = _probes(http, fresh, token)
        _each_answers(probes, {"auth": 503, "profiles": 503}, 30, "without its database")
        wait_for(  # the load, not only these probes, must meet the outage before it ends
            lambda: any(k.endswith(" 503") for k in Counter(load.statuses)),
            timeout=30,
            what="the load to be answered 503 during the outage",
        )
        outage = Counter(load.statuses)

        private_pg.start()
        _each_answers(probes, {"auth": 201, "profiles": 200}, 60, "recovering by itself")
        load.stop.set()
        load.thread.join(timeout=60)
        http.close()

        assert {spec.name: stack.pid(spec.name) for spec in stack.specs()} == pids  # no restarts
        answers = dict(load.statuses)
        assert any(k.endswith(" 503") for k in outage), answers
        bad = {k: v for k, v in answers.items() if k.endswith((" 500", " hang", " no_answer"))}
        assert not bad, answers
        promise = check_promise(stack, VARIANT, after_id)
        assert promise.kept and promise.lost == 0, promise
    finally:
        stack.down()
