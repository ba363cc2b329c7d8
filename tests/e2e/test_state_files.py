"""A running stack's state dir: every file and folder, Valkey's and SQLite's too, is owner-only."""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

import httpx

from common.settings import Mode, Publish
from lab.processes import Stack
from tests.e2e.client import PASSWORD, client, gw
from tests.e2e.conftest import StackFactory
from tests.support import wait_for


def open_to_others(root: Path) -> list[str]:
    """Every path under root (root included) with a group or other permission bit."""
    paths = [root]
    for folder, dirs, files in os.walk(root):
        paths += [Path(folder) / name for name in (*dirs, *files)]
    return [
        f"{path.relative_to(root)} {stat.filemode(path.lstat().st_mode)}"
        for path in paths
        if not path.is_symlink() and path.lstat().st_mode & 0o077
    ]


def aof_holds(stack: Stack, text: str) -> bool:
    folder = stack.state_dir / "valkey" / "appendonlydir"
    return any(text.encode() in path.read_bytes() for path in folder.glob("*.aof*"))


def test_nothing_in_the_state_dir_is_readable_by_others(stack_factory: StackFactory) -> None:
    stack = stack_factory(start=False)
    old = stack.state_dir / "logs" / "auth.log"  # what an older version left behind
    old.parent.mkdir(parents=True)
    old.write_text("an older run's log\n")
    for path in (stack.state_dir, old.parent, old):
        path.chmod(0o755 if path.is_dir() else 0o644)
    stack.up()
    stack.set_mode(Mode.STREAMS, Publish.OUTBOX)
    name, email = f"u-{secrets.token_hex(4)}", f"{secrets.token_hex(4)}@example.org"
    r = httpx.post(
        f"{gw(stack)}/auth/register",
        json={"username": name, "password": PASSWORD, "email": email},
        timeout=30,
    )
    assert r.status_code == 201, r.text
    user_id = r.json()["user_id"]
    for service in ("profiles", "notifications"):
        wait_for(
            lambda s=service: any(
                u["user_id"] == user_id for u in client(stack).get(s, "known-users")["users"]
            ),
            timeout=10,
            what=f"{service} to hear of the user",
        )
    wait_for(lambda: aof_holds(stack, email), timeout=10, what="the event in Valkey's AOF")
    names = {path.name for path in stack.state_dir.rglob("*")}
    assert {"appendonlydir", "auth.sqlite3-wal", "auth.sqlite3-shm", "internal-token"} <= names
    assert open_to_others(stack.state_dir) == []
