"""End-to-end fixtures: whole stacks of real processes in temporary state dirs on free ports.

Most tests share one lazy-mode stack for the whole run (`lazy_stack`), put back before each test
the way a test expects to find it; tests that need settings of their own start a stack of their
own (`stack_factory`)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlmodel import delete

from auth.throttle import LoginFailures
from common.db import make_engine
from common.settings import Mode
from lab.isolated import isolated_env
from lab.processes import FRONTS, Stack
from tests.support import wait_for

StackFactory = Callable[..., Stack]


@pytest.fixture
def stack_factory(tmp_path: Path) -> Iterator[StackFactory]:
    """Start stacks in temporary state dirs on free ports; every one is stopped afterwards."""
    started: list[Stack] = []

    def make(replicas: int = 1, start: bool = True, **env: str) -> Stack:
        state = tmp_path / f"state{len(started)}"
        stack = Stack(env=isolated_env(state, replicas=replicas, **env))
        started.append(stack)
        if start:
            stack.up()
        return stack

    try:
        yield make
    finally:
        for stack in started:
            stack.down()


@pytest.fixture(scope="session")
def shared_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """One stack on the embedded defaults, started once for every test that can share it."""
    stack = Stack(env=isolated_env(tmp_path_factory.mktemp("shared") / "state"))
    try:
        stack.up()
        yield stack
    finally:
        stack.down()


@pytest.fixture
def lazy_stack(shared_stack: Stack) -> Stack:
    """The shared stack as a fresh one would be: every process up, in lazy mode, no throttle
    counts. Users registered by earlier tests stay: every test names its own."""
    reset_stack(shared_stack)
    return shared_stack


def service_modes(stack: Stack) -> dict[str, str]:
    """The mode each running service reports."""
    return {
        spec.name: stack.client().internal(spec.port, "GET", "status")["mode"]
        for spec in stack.specs()
        if spec.kind == "http" and spec.name not in FRONTS
    }


def reset_stack(stack: Stack) -> None:
    """Start what an earlier test stopped, switch back to lazy mode (a test or the CLI may have
    left another), and empty the throttle's counts so one test's failures never block the next."""
    stack.up()
    if set(service_modes(stack).values()) != {Mode.LAZY.value}:
        stack.set_mode(Mode.LAZY, None)
        wait_for(
            lambda: set(service_modes(stack).values()) == {Mode.LAZY.value},
            timeout=20,
            what="every service in lazy mode",
        )
    engine = make_engine(stack.settings.database_url("auth"))
    try:
        with engine.begin() as conn:
            conn.execute(delete(LoginFailures))
    finally:
        engine.dispose()
