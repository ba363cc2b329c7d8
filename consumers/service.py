"""A consumer service's state: the active discovery mode, counters and stores."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from common.settings import Mode
from common.tokens import Verifier
from consumers import store
from consumers.discovery import build_discovery
from consumers.discovery.base import Context, Discovery


@dataclass
class ConsumerService:
    """Everything a consumer's handlers need, built once in the lifespan."""

    ctx: Context
    verifier: Verifier
    discovery: Discovery
    switch_lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def name(self) -> str:
        return self.ctx.spec.name

    async def switch(self, mode: Mode) -> None:
        """Stop the current mode's background work and start the new mode's."""
        async with self.switch_lock:
            if mode is self.discovery.mode:
                return
            new = build_discovery(mode, self.ctx)
            await self.discovery.stop()
            await new.start()
            self.discovery = new

    async def status(self) -> dict[str, Any]:
        """Fields for /internal/status."""
        stats = self.ctx.stats
        status: dict[str, Any] = {
            "service": self.name,
            "replica": self.ctx.replica,
            "mode": self.discovery.mode.value,
            "known_users": await asyncio.to_thread(store.count_known, self.ctx.engine),
            "provisioned_records": await asyncio.to_thread(self.ctx.spec.count, self.ctx.engine),
            "event_provisions": stats.event_provisions,
            "lazy_provisions": stats.lazy_provisions,
            "duplicates_ignored": stats.duplicates_ignored,
            "unknown_user_refusals": stats.unknown_user_refusals,
            "events_received": stats.events_received,
            "invalid_events": stats.invalid_events,
            "events_refused": stats.events_refused,
            "deactivations": stats.deactivations,
            "attribute_updates": stats.attribute_updates,
            "stale_updates": stats.stale_updates,
            "unknown_updates": stats.unknown_updates,
            "calls_served": stats.calls_served,
            "subscriber": self.discovery.subscriber_state(),
            "last_propagation_ms": stats.last_propagation_ms,
            "token_cache_hits": self.verifier.cache_hits,
            # users each bounded per-user structure holds now (LAB_*_SIZE settings)
            "per_user": self.ctx.cache.sizes() | {"tokens": self.verifier.cached_tokens},
            "jwks_refreshes": self.verifier.refreshes,
        }
        status.update(await self.discovery.extra_status())
        return status
