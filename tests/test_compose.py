"""docker-compose.yml is validated here (no Docker engine runs on these machines)."""

from __future__ import annotations

from pathlib import Path

import yaml

from common.serve import FACTORIES
from common.settings import CONSUMER_SERVICES

ROOT = Path(__file__).resolve().parent.parent


def test_compose_describes_the_same_stack_as_cli_up() -> None:
    spec = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = spec["services"]
    assert set(services) == {"valkey", "auth", "gateway", *CONSUMER_SERVICES}
    for name, service in services.items():
        if name == "valkey":
            assert "--appendonly" in service["command"]
            continue
        assert service["network_mode"] == "service:valkey"
        process = service["command"][-1]
        assert process == name and (process in FACTORIES or process in CONSUMER_SERVICES)
        assert service["environment"]["LAB_STATE_DIR"] == "/state"


def test_dockerfile_copies_every_package() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    for package in ("auth", "consumers", "events", "gateway", "common", "bench"):
        assert (ROOT / package).is_dir()
        assert f"COPY {package} {package}" in dockerfile
