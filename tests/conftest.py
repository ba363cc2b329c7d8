"""Tests come in three layers, one folder each: unit/ runs apps and logic in-process with fakes of
our own Protocols, integration/ adds a real valkey-server and real databases, and e2e/ runs the
process stack. Each layer's own fixtures live in its conftest.py; the real valkey-server that
integration and e2e tests share is here, and so are the `bench` mark of the benchmark's tests and
the OTLP receiver that the unit and e2e tracing tests export to."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from common import tracing
from tests.otlp import OtlpReceiver
from tests.support import ValkeyProc, reset_valkey, start_valkey

TESTS = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the benchmark's tests `bench` by where they live, so `-m "not bench"` leaves them
    out whatever they are named."""
    for item in items:
        where = item.path.relative_to(TESTS)
        if "bench" in where.parts[:-1] or where.name.startswith("test_bench_"):
            item.add_marker(pytest.mark.bench)


@pytest.fixture(scope="session")
def shared_valkey(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ValkeyProc]:
    """One real valkey-server (the embedded binary) per test process, on a port of its own."""
    server = start_valkey(tmp_path_factory.mktemp("shared-valkey"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def valkey_proc(shared_valkey: ValkeyProc) -> Iterator[ValkeyProc]:
    """The process's valkey-server, empty and with no other client, for one test; a test may stop
    and start it, and one it leaves stopped or frozen is running again for the next test."""
    reset_valkey(shared_valkey)
    yield shared_valkey
    if shared_valkey.proc is not None and shared_valkey.proc.poll() is None:
        shared_valkey.proc.send_signal(signal.SIGCONT)  # a test may end with it stopped
    else:
        shared_valkey.start()


@pytest.fixture
def receiver() -> Iterator[OtlpReceiver]:
    """An OTLP/HTTP receiver on a free port; this process's own tracing is off again after."""
    server = OtlpReceiver()
    try:
        yield server
    finally:
        tracing.shutdown()
        server.close()
