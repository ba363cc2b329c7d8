"""Discovery modes, one module each, chosen in exactly one place: build_discovery()."""

from __future__ import annotations

from common.settings import Mode
from consumers.discovery.base import Context, Discovery
from consumers.discovery.hybrid import HybridDiscovery
from consumers.discovery.lazy import LazyDiscovery
from consumers.discovery.pubsub import PubSubDiscovery
from consumers.discovery.streams import StreamsDiscovery

MODES: dict[Mode, type[LazyDiscovery | PubSubDiscovery | StreamsDiscovery | HybridDiscovery]] = {
    Mode.LAZY: LazyDiscovery,
    Mode.PUBSUB: PubSubDiscovery,
    Mode.STREAMS: StreamsDiscovery,
    Mode.HYBRID: HybridDiscovery,
}


def build_discovery(mode: Mode, ctx: Context) -> Discovery:
    """The one place that turns the mode setting into a discovery implementation."""
    return MODES[mode](ctx)
