"""Settings for an isolated stack: every port it will listen on is free and used once."""

from __future__ import annotations

from pathlib import Path

import pytest

from lab.isolated import isolated_env

pytestmark = pytest.mark.timeout(60)


def _listening_ports(env: dict[str, str]) -> list[int]:
    """Every port the stack binds: one per service, and one per replica 10 apart."""
    replicas = {
        "LAB_AUTH_PORT": int(env.get("LAB_AUTH_REPLICAS", "1")),
        "LAB_PROFILES_PORT": int(env["LAB_REPLICAS"]),
        "LAB_NOTIFICATIONS_PORT": int(env["LAB_REPLICAS"]),
    }
    names = ("VALKEY_PORT", "LAB_GATEWAY_PORT", "LAB_DASHBOARD_PORT", *replicas)
    return [int(env[n]) + 10 * k for n in names for k in range(replicas.get(n, 1))]


@pytest.mark.parametrize("free_ports", ["", "27000-27099"])
def test_no_port_is_handed_to_two_services(
    tmp_path: Path, free_ports: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LAB_FREE_PORTS", free_ports)
    for _ in range(50):
        env = isolated_env(tmp_path / "state", replicas=2, LAB_AUTH_REPLICAS="2")
        ports = _listening_ports(env)
        assert len(ports) == len(set(ports)) == 9, env
