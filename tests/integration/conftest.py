"""Integration fixtures: real databases (the real valkey-server is in tests/conftest.py)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import create_pg_database, drop_pg_database, require_postgres


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh database URL: a SQLite file, then a new PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'test.sqlite3'}"
        return
    require_postgres()
    name = f"lab_test_{uuid.uuid4().hex[:12]}"
    url = create_pg_database(name)
    try:
        yield url
    finally:
        drop_pg_database(name)
