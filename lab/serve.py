"""Run one process of the stack under uvicorn: `python -m lab.serve NAME`."""

from __future__ import annotations

import importlib
import os
import sys
import urllib.request
from typing import Any

import uvicorn

from common import logs, tracing
from common.settings import CONSUMER_SERVICES, Settings, parse_replica
from common.statefiles import UMASK

FACTORIES = {
    "auth": "auth.app:create_app",
    "gateway": "gateway.app:create_app",
    "dashboard": "dashboard.app:create_app",
}


def process_port(name: str, settings: Settings) -> int:
    """The port a process such as auth, gateway or profiles-2 listens on."""
    service, replica = parse_replica(name)
    if service in (*CONSUMER_SERVICES, "auth"):
        return settings.service_port(service, replica)
    ports = {
        "gateway": settings.lab_gateway_port,
        "dashboard": settings.lab_dashboard_port,
    }
    if name not in ports:
        raise SystemExit(f"unknown process {name!r}")
    return ports[name]


def build_app(name: str, settings: Settings) -> tuple[Any, int]:
    """The ASGI app and port for a process name such as auth, gateway or profiles-2."""
    port = process_port(name, settings)
    service, _ = parse_replica(name)
    if service in CONSUMER_SERVICES:
        from consumers.app import create_app

        return create_app(settings, service, name), port
    module, _, attr = FACTORIES[service].partition(":")
    factory = getattr(importlib.import_module(module), attr)
    return factory(settings.model_copy(update={"lab_replica_name": name})), port


def check_health(name: str, settings: Settings) -> bool:
    """True if the named process answers 200 on GET /health on its own port (a container's
    health check, so it asks the loopback address whatever the bind address)."""
    url = f"http://127.0.0.1:{process_port(name, settings)}/health"
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def main(argv: list[str]) -> None:
    """Serve the named process on its configured port until SIGTERM; with --check, exit 0 if
    it answers its health check and 1 if not."""
    if len(argv) == 2 and argv[0] == "--check":
        raise SystemExit(0 if check_health(argv[1], Settings()) else 1)
    if len(argv) != 1:
        raise SystemExit("usage: python -m lab.serve [--check] NAME")
    os.umask(UMASK)  # as `up` sets it; started some other way too (a container, by hand)
    settings = Settings()
    name = argv[0]
    sink = logs.configure(
        name, settings.state_dir / "logs", settings.lab_log_max_bytes, settings.lab_log_backups
    )
    tracing.configure(name)  # before the app is built: its middleware is chosen then
    app, port = build_app(name, settings)
    uvicorn.run(
        logs.AccessLog(app, sink if settings.lab_access_log else None, name),
        host=settings.lab_bind_host,
        port=port,
        log_level="warning",
        log_config=None,  # uvicorn's records go to the process's JSON lines too
        access_log=False,  # written by logs.AccessLog, with the request id
        lifespan="on",
        timeout_graceful_shutdown=5,
        # uvicorn would otherwise take X-Forwarded-For from any loopback peer as the client
        # address; who is believed is decided by common.forwarded, with a proof
        proxy_headers=False,
    )


if __name__ == "__main__":
    main(sys.argv[1:])
