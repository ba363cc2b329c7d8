"""Fixtures: a temporary state dir and a real valkey-server on a free port."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import ValkeyProc, start_valkey


@pytest.fixture
def valkey_proc(tmp_path: Path) -> Iterator[ValkeyProc]:
    """A real valkey-server (the embedded binary) for one test."""
    server = start_valkey(tmp_path)
    try:
        yield server
    finally:
        server.stop()


def _pg_or_skip() -> None:
    import os

    from tests.support import postgres_available

    reason = postgres_available()
    if reason is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true requires PostgreSQL: {reason}")
    pytest.skip(reason)


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh database URL: a SQLite file, then a new PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'test.sqlite3'}"
        return
    _pg_or_skip()
    import uuid

    from tests.support import create_pg_database, drop_pg_database

    name = f"lab_test_{uuid.uuid4().hex[:12]}"
    url = create_pg_database(name)
    try:
        yield url
    finally:
        drop_pg_database(name)


@pytest.fixture
def stack_factory(tmp_path: Path) -> Iterator[object]:
    """Start stacks in temporary state dirs on free ports; every one is stopped afterwards."""
    from common.processes import Stack
    from tests.support import stack_env

    started: list[Stack] = []

    def make(replicas: int = 1, start: bool = True, **env: str) -> Stack:
        state = tmp_path / f"state{len(started)}"
        stack = Stack(env=stack_env(state, replicas=replicas, **env))
        started.append(stack)
        if start:
            stack.up()
        return stack

    try:
        yield make
    finally:
        for stack in started:
            stack.down()


@pytest.fixture(scope="module")
def lazy_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """One lazy-mode stack shared by a module's tests."""
    from common.processes import Stack
    from tests.support import stack_env

    stack = Stack(env=stack_env(tmp_path_factory.mktemp("lazy") / "state"))
    try:
        stack.up()
        yield stack
    finally:
        stack.down()
