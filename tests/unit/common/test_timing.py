"""Server-Timing: phases timed inside a request reach the response header, threads included."""

from __future__ import annotations

import asyncio

import httpx
from fastapi import FastAPI

from common.timing import ServerTiming, parse, phase


def test_phases_and_the_total_reach_the_header() -> None:
    app = FastAPI()
    app.add_middleware(ServerTiming, total="svc")

    def in_thread() -> None:
        with phase("db"):
            pass

    @app.get("/x")
    async def x() -> dict[str, bool]:
        with phase("verify"):
            await asyncio.to_thread(in_thread)
        return {"ok": True}

    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            return await client.get("/x")

    reply = asyncio.run(go())
    timing = parse(reply.headers["server-timing"])
    assert set(timing) == {"db", "verify", "svc"}
    assert timing["svc"] >= timing["verify"] >= timing["db"] >= 0


def test_parse_skips_malformed_entries_and_adds_repeats() -> None:
    assert parse(None) == {}
    assert parse("a;dur=1.5, b;desc=x, c;dur=oops, a;dur=2") == {"a": 3.5}


def test_phase_outside_a_request_is_harmless() -> None:
    with phase("nothing"):
        pass
