"""Schemathesis against the real running services: no 5xx, and every answer matches the
OpenAPI document that service serves."""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import pytest

from lab.processes import Stack

pytestmark = pytest.mark.slow

SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"
EXAMPLES = 8  # per operation and phase: enough to reach every documented answer, kept cheap
# `positive_data_acceptance` expects every schema-valid body to succeed, but some rules cannot be
# written in JSON Schema (NFKC length, a name already taken, a breached password): they get a
# documented 409/422, which is what the other checks verify.
EXCLUDED_CHECKS = "positive_data_acceptance"


@pytest.fixture
def stack(lazy_stack: Stack) -> Stack:
    """The shared stack, in lazy mode; a test switches it to the mode it needs."""
    return lazy_stack


def _token(stack: Stack) -> str:
    base = f"http://127.0.0.1:{stack.settings.lab_gateway_port}/auth"
    # A fresh user each time: a fuzzed DELETE /users/me deactivates the one before.
    body = {"username": f"fuzz-{uuid.uuid4().hex[:12]}", "password": "fuzzing password 1"}
    httpx.post(f"{base}/register", json=body, timeout=30).raise_for_status()
    reply = httpx.post(f"{base}/login", json=body, timeout=30)
    reply.raise_for_status()
    token: str = reply.json()["token"]
    return token


def _run(url: str, tmp: Path, *headers: str) -> subprocess.CompletedProcess[str]:
    args = [
        str(SCHEMATHESIS),
        "run",
        url,
        "--checks",
        "all",
        "--exclude-checks",
        EXCLUDED_CHECKS,
        "--max-examples",
        str(EXAMPLES),
        "--seed",
        "8725",
        "--generation-deterministic",
        "--workers",
        "1",
        "--request-timeout",
        "30",
        "--no-color",
        "--report-dir",
        str(tmp),
    ]
    for header in headers:
        args += ["-H", header]
    return subprocess.run(args, capture_output=True, text=True, timeout=600, check=False)


@pytest.mark.parametrize("service", ["gateway", "auth", "profiles", "notifications"])
def test_schemathesis_finds_nothing(stack: Stack, service: str, tmp_path: Path) -> None:
    port = stack.spec(service).port
    url = f"http://127.0.0.1:{port}/openapi.json"
    anonymous = _run(url, tmp_path / "anonymous")
    assert anonymous.returncode == 0, anonymous.stdout[-6000:] + anonymous.stderr[-2000:]
    # Again with valid credentials, so the fuzzing reaches past the 401s.
    signed_in = _run(
        url,
        tmp_path / "signed-in",
        f"Authorization: Bearer {_token(stack)}",
        f"X-Internal-Token: {stack.settings.internal_token()}",
    )
    assert signed_in.returncode == 0, signed_in.stdout[-6000:] + signed_in.stderr[-2000:]
