"""Fixtures of the benchmark's unit tests."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bench.parts.codesize.measure import project_root
from bench.parts.codesize.sources import PROJECT_PACKAGES


@pytest.fixture
def project_copy(tmp_path: Path) -> Path:
    """A copy of the project's packages under tmp_path, for tests that edit the source."""
    for package in PROJECT_PACKAGES:
        shutil.copytree(
            project_root() / package,
            tmp_path / package,
            ignore=shutil.ignore_patterns("__pycache__"),
        )
    return tmp_path
