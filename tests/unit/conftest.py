"""Unit layer: apps and logic in-process, no processes; async tests run on anyio's asyncio."""

from __future__ import annotations

import pytest


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
