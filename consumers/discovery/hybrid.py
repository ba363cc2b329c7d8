"""Hybrid discovery: streams, with lazy provisioning as the fallback for a user not yet heard of."""

from __future__ import annotations

from common.settings import Mode
from consumers.discovery.base import Resolution, known_or_none, provision_lazily
from consumers.discovery.streams import StreamsDiscovery


class HybridDiscovery(StreamsDiscovery):
    """Events for everyone, lazy for whoever calls before their event arrives."""

    mode: Mode = Mode.HYBRID

    async def resolve(self, user_id: int) -> Resolution:
        found = await known_or_none(self.ctx, user_id)
        return found if found is not None else await provision_lazily(self.ctx, user_id)
