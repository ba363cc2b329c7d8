"""Run one process of the stack under uvicorn: `python -m common.serve NAME`."""

from __future__ import annotations

import importlib
import logging
import sys
from typing import Any

import uvicorn

from common.settings import CONSUMER_SERVICES, Settings, parse_replica

FACTORIES = {
    "auth": "auth.app:create_app",
    "gateway": "gateway.app:create_app",
}


def build_app(name: str, settings: Settings) -> tuple[Any, int]:
    """The ASGI app and port for a process name such as auth, gateway or profiles-2."""
    service, replica = parse_replica(name)
    if service in CONSUMER_SERVICES:
        from consumers.app import create_app

        return create_app(settings, service, name), settings.service_port(service, replica)
    if name not in FACTORIES:
        raise SystemExit(f"unknown process {name!r}")
    module, _, attr = FACTORIES[name].partition(":")
    factory = getattr(importlib.import_module(module), attr)
    return factory(settings), getattr(settings, f"lab_{name}_port")


def main(argv: list[str]) -> None:
    """Serve the named process on its configured port until SIGTERM."""
    if len(argv) != 1:
        raise SystemExit("usage: python -m common.serve NAME")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    settings = Settings()
    app, port = build_app(argv[0], settings)
    uvicorn.run(
        app,
        host=settings.lab_host,
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=5,
    )


if __name__ == "__main__":
    main(sys.argv[1:])
