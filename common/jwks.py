"""Fetch a JWKS over HTTP from the auth service's own URL."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from common.tokens import JwksFetcher


def http_jwks_fetcher(client: httpx.AsyncClient, url: str) -> JwksFetcher:
    """A fetcher for Verifier that GETs the JWKS from url with the given client."""

    async def fetch() -> Mapping[str, Any]:
        response = await client.get(url, timeout=5.0)
        response.raise_for_status()
        data: Mapping[str, Any] = response.json()
        return data

    return fetch
