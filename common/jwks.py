"""Fetch a JWKS over HTTP from the auth processes' own URLs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from common.tokens import JwksFetcher


def http_jwks_fetcher(client: httpx.AsyncClient, urls: Sequence[str]) -> JwksFetcher:
    """A fetcher for Verifier that GETs the JWKS from the first of urls that answers.

    Every auth process serves the same JWKS, so one that is down is skipped; the fetcher starts
    with the one that answered last. If none answers, the last error is raised.
    """
    if not urls:
        raise ValueError("no JWKS URL")
    order = list(urls)

    async def fetch() -> Mapping[str, Any]:
        error: Exception | None = None
        for url in list(order):
            try:
                response = await client.get(url, timeout=5.0)
                response.raise_for_status()
                data: Mapping[str, Any] = response.json()
            except (httpx.HTTPError, ValueError) as exc:
                error = exc
                continue
            order.remove(url)
            order.insert(0, url)
            return data
        assert error is not None
        raise error

    return fetch
