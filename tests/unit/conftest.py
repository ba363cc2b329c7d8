"""Unit layer: apps and logic in-process, no processes; async tests run on anyio's asyncio."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from auth.keys import KeyStore
from tests.unit.fakes import KeysCopier


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def signing_keys(tmp_path_factory: pytest.TempPathFactory) -> KeysCopier:
    """Put a copy of one RS256 keys dir in place: generating its two RSA keys once per session
    instead of once per test saves more than the rest of a route test costs."""
    made = tmp_path_factory.mktemp("signing") / "keys"
    KeyStore(made, "RS256", 300)

    def copy_to(keys_dir: Path) -> None:
        shutil.copytree(made, keys_dir)

    return copy_to
