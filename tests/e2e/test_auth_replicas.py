"""`up --db postgres --auth-replicas 2`: two auth processes behind the gateway, one database."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from common.settings import CONSUMER_SERVICES
from lab.isolated import isolated_env
from lab.processes import Stack
from tests.e2e.client import PASSWORD, client, fresh
from tests.e2e.test_cli import invoke
from tests.support import create_pg_database, drop_pg_database, require_postgres, wait_for

pytestmark = [pytest.mark.timeout(300), pytest.mark.slow]
USERS = 12


@pytest.fixture
def pg_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    """Settings of a stack in tmp_path whose services each get a new PostgreSQL database."""
    require_postgres()
    tag = uuid.uuid4().hex[:10]
    names = {service: f"lab_test_{tag}_{service}" for service in ("auth", *CONSUMER_SERVICES)}
    urls = {f"{s.upper()}_DATABASE_URL": create_pg_database(n) for s, n in names.items()}
    env = isolated_env(tmp_path / "state", replicas=2, LAB_AUTH_REPLICAS="2", **urls)
    try:
        yield env
    finally:
        Stack(env=env).down()
        for name in names.values():
            drop_pg_database(name)


def test_sqlite_refuses_more_than_one_auth_process(tmp_path: Path) -> None:
    env = isolated_env(tmp_path / "state")
    result = invoke(env, "up", "--auth-replicas", "2")
    assert result.exit_code == 1
    assert "need PostgreSQL" in result.stderr and "--db postgres" in result.stderr
    assert not list((tmp_path / "state").glob("run/*.pid"))  # nothing started


def test_two_auth_processes_share_the_work_and_every_user_reaches_each_consumer_once(
    pg_env: dict[str, str],
) -> None:
    args = ("up", "--db", "postgres", "--auth-replicas", "2", "--replicas", "2")
    started = invoke(pg_env, *args, "--mode", "streams", "--publish", "outbox", "--json")
    assert started.exit_code == 0, started.stderr
    stack = Stack(env={**pg_env, **Stack.load(Path(pg_env["LAB_STATE_DIR"])).env})
    names = [p.name for p in stack.specs()]
    assert {"auth", "auth-2", "profiles-2", "notifications-2"} <= set(names)
    pids = {name: stack.pid(name) for name in names}
    assert all(pids.values()), pids

    users = {}
    for name in (fresh() for _ in range(USERS)):
        reply = client(stack).register(name, PASSWORD)
        assert reply.status == 201, reply.body
        users[reply.body["user_id"]] = name
    served = {a: client(stack).get(a, "status")["registrations"] for a in ("auth", "auth-2")}
    assert sum(served.values()) == USERS and all(served.values()), served  # the gateway spreads

    def known(service: str) -> Counter[int]:
        return Counter(u["user_id"] for u in client(stack).get(service, "known-users")["users"])

    for service in CONSUMER_SERVICES:
        wait_for(lambda s=service: set(users) <= set(known(s)), timeout=30, what=f"{service}")
        counts = known(service)
        assert {counts[uid] for uid in users} == {1}
        status = client(stack).get(service, "status")
        assert status["provisioned_records"] == USERS  # one profile, one welcome message each
        received = sum(
            client(stack).get(r, "status")["events_received"] for r in (service, f"{service}-2")
        )
        assert received == USERS  # each event reached one replica of the group, once
    assert client(stack).get("auth", "status")["outbox_pending"] == 0

    stopped = invoke(pg_env, "down")
    assert stopped.exit_code == 0, stopped.stderr
    assert not [n for n, pid in pids.items() if pid and psutil.pid_exists(pid)]
    assert not list(stack.state_dir.glob("run/*.pid"))
