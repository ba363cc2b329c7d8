"""End-to-end fixtures: whole stacks of real processes in temporary state dirs on free ports."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from lab.isolated import isolated_env
from lab.processes import Stack

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


@pytest.fixture(scope="module")
def lazy_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """One lazy-mode stack shared by a module's tests."""
    stack = Stack(env=isolated_env(tmp_path_factory.mktemp("lazy") / "state"))
    try:
        stack.up()
        yield stack
    finally:
        stack.down()
