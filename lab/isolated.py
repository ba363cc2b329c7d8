"""Settings for a stack in its own state dir on free ports, for the tests and the benchmark."""

from __future__ import annotations

from pathlib import Path

from lab.net import free_port, port_in_use


def isolated_env(state_dir: Path, replicas: int = 1, **extra: str) -> dict[str, str]:
    """Settings for a stack in its own state dir with every port free, so it never collides
    with a stack someone is running (replica ports are spaced by 10, as `up` places them)."""

    taken: set[int] = set()  # the OS may hand out a port it just handed out: never use one twice

    def spaced(count: int = 1) -> int:
        while True:
            base = free_port()
            ports = [base + 10 * k for k in range(count)]
            if taken.isdisjoint(ports) and not any(port_in_use(p) for p in ports[1:]):
                taken.update(ports)
                return base

    replicas = int(extra.get("LAB_REPLICAS", replicas))
    auth_replicas = int(extra.get("LAB_AUTH_REPLICAS", "1"))
    gateway = spaced()
    env = {
        "LAB_STATE_DIR": str(state_dir),
        "VALKEY_PORT": str(spaced()),
        "LAB_AUTH_PORT": str(spaced(auth_replicas)),
        "LAB_GATEWAY_PORT": str(gateway),
        "LAB_DASHBOARD_PORT": str(spaced()),
        "LAB_PROFILES_PORT": str(spaced(replicas)),
        "LAB_NOTIFICATIONS_PORT": str(spaced(replicas)),
        "LAB_REPLICAS": str(replicas),
        "LAB_ISSUER": f"http://127.0.0.1:{gateway}/auth",
        "VALKEY_URL": "",
        "AUTH_DATABASE_URL": "",
        "PROFILES_DATABASE_URL": "",
        "NOTIFICATIONS_DATABASE_URL": "",
        "LAB_INTERNAL_TOKEN": "",
        "LAB_GATEWAY_PROXY_KEY": "",
        "LAB_TRUSTED_PROXIES": "",
        "LAB_FAULT_CRASH_AFTER_COMMIT": "false",
    }
    env.update(extra)
    return env
