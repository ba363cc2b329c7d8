"""Hybrid discovery: streams, with lazy provisioning as the fallback for a user not yet heard of."""

from __future__ import annotations

from common.settings import Mode
from common.tokens import Claims
from consumers.discovery.base import Resolution, provision_lazily
from consumers.discovery.streams import StreamsDiscovery


class HybridDiscovery(StreamsDiscovery):
    """Events for everyone, lazy for whoever calls before their event arrives."""

    mode: Mode = Mode.HYBRID

    async def resolve(self, claims: Claims) -> Resolution:
        return await provision_lazily(self.ctx, claims)
