"""Tests come in three layers, one folder each: unit/ runs apps and logic in-process with fakes of
our own Protocols, integration/ adds a real valkey-server and real databases, and e2e/ runs the
process stack. Each layer's own fixtures live in its conftest.py; the real valkey-server that
integration and e2e tests share is here."""

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
