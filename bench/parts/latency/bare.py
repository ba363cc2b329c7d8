"""The HTTP floor, an endpoint that does nothing: `python -m bench.parts.latency.bare PORT`."""

from __future__ import annotations

import sys

import uvicorn
from fastapi import FastAPI


def create_app() -> FastAPI:
    """An app with one empty JSON endpoint."""
    app = FastAPI()

    @app.get("/ping")
    async def ping() -> dict[str, bool]:
        return {"ok": True}

    return app


if __name__ == "__main__":
    uvicorn.run(
        create_app(),
        host="127.0.0.1",
        port=int(sys.argv[1]),
        log_level="warning",
        access_log=False,
        proxy_headers=False,  # as every process of the stack runs (lab.serve)
    )
