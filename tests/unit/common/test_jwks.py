"""The HTTP JWKS fetcher skips an auth process that does not answer."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import httpx
import pytest

from common.jwks import http_jwks_fetcher

pytestmark = pytest.mark.anyio

JWKS = {
    "keys": [
        {
            "kty": "OKP",
            "crv": "Ed25519",
            "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo",
            "kid": "k1",
        }
    ]
}
Scope = MutableMapping[str, Any]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


def auth_processes(down: set[str], hits: list[str]) -> Any:
    """An ASGI app standing for several auth processes, told apart by host; those in down
    answer 503."""

    async def app(scope: Scope, receive: Any, send: Send) -> None:
        host = dict(scope["headers"])[b"host"].decode()
        hits.append(host)
        status, body = (
            (503, b"{}") if host in down else (200, httpx.Response(200, json=JWKS).content)
        )
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": body})

    return app


URLS = ["http://auth-1/.well-known/jwks.json", "http://auth-2/.well-known/jwks.json"]


async def test_a_down_auth_process_is_skipped_and_the_answering_one_asked_first() -> None:
    down, hits = {"auth-1"}, list[str]()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(auth_processes(down, hits))) as http:
        fetch = http_jwks_fetcher(http, URLS)
        assert await fetch() == JWKS
        assert hits == ["auth-1", "auth-2"]
        hits.clear()
        assert await fetch() == JWKS
        assert hits == ["auth-2"]  # the one that answered last comes first


async def test_no_auth_process_answering_raises_the_last_error() -> None:
    down, hits = {"auth-1", "auth-2"}, list[str]()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(auth_processes(down, hits))) as http:
        with pytest.raises(httpx.HTTPStatusError, match="auth-2"):
            await http_jwks_fetcher(http, URLS)()


async def test_no_url_is_refused() -> None:
    async with httpx.AsyncClient() as http:
        with pytest.raises(ValueError, match="no JWKS URL"):
            http_jwks_fetcher(http, [])
