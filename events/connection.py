"""Open a Valkey client from a URL: one node (redis://), or a cluster (valkey+cluster://)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Any, cast
from urllib.parse import unquote, urlsplit, urlunsplit

import valkey.asyncio as avalkey
from valkey.asyncio.cluster import ClusterNode, ValkeyCluster

from common.settings import CLUSTER_SCHEME


def is_cluster(url: str) -> bool:
    """True for a URL that names a Valkey Cluster."""
    return urlsplit(url).scheme == CLUSTER_SCHEME


def node_url(url: str, host: str | None = None, port: int | None = None) -> str:
    """A plain URL for one node, with the same user: the seed node, or host:port instead."""
    parts = urlsplit(url)
    if not is_cluster(url) and host is None:
        return url
    credentials = parts.netloc.rpartition("@")[0]
    address = f"{host or parts.hostname}:{port or parts.port or 6379}"
    netloc = f"{credentials}@{address}" if credentials else address
    return urlunsplit(("redis", netloc, "/0", "", ""))


def connect(url: str, **options: Any) -> avalkey.Valkey:
    """A client for url. A cluster client follows MOVED and failovers by itself; it offers the
    keyed stream commands and PUBLISH that the code uses under the same names, so callers
    keep one type. Pub/sub subscriptions are the exception: see `cluster_nodes`."""
    if not is_cluster(url):
        client: avalkey.Valkey = avalkey.Valkey.from_url(url, **options)
        return client
    cluster = ValkeyCluster.from_url(node_url(url), **options)
    return cast(avalkey.Valkey, cluster)


async def cluster_nodes(url: str, known: Sequence[str] = (), **options: Any) -> list[str]:
    """Plain URLs of every node a cluster reports, primaries first (the URL itself if it
    names no cluster), asking the seed node or any node known from before, should the seed
    be down. A classic SUBSCRIBE on any one of them hears every PUBLISH."""
    if not is_cluster(url):
        return [url]
    parts = urlsplit(url)
    seeds = [ClusterNode(parts.hostname or "127.0.0.1", parts.port or 6379)]
    for other in known:
        address = urlsplit(other)
        seeds.append(ClusterNode(address.hostname or "127.0.0.1", address.port or 6379))
    cluster = ValkeyCluster(
        startup_nodes=seeds,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        **options,
    )
    try:
        await cluster.initialize()
        nodes = cluster.get_primaries() + cluster.get_replicas()
        return [node_url(url, node.host, int(node.port)) for node in nodes]
    finally:
        await cluster.aclose()


class Pinned:
    """One connection to the primary that holds a key, found again after a failover: WAIT
    counts only the writes of its own connection, so a write and its WAIT must share one."""

    def __init__(self, url: str, key: str, **options: Any) -> None:
        self.url = url
        self.key = key
        self.options = options
        self.lock = asyncio.Lock()  # one write-and-WAIT at a time on the one connection
        self._client: avalkey.Valkey | None = None

    async def client(self) -> avalkey.Valkey:
        """The open connection, opened to the key's current primary if needed."""
        if self._client is None:
            url = self.url
            if is_cluster(url):
                cluster = ValkeyCluster.from_url(node_url(url), **self.options)
                try:
                    await cluster.initialize()
                    node = cluster.get_node_from_key(self.key)
                    if node is None:
                        raise ConnectionError(f"no node holds the slot of {self.key}")
                finally:
                    await cluster.aclose()
                url = node_url(url, node.host, int(node.port))
            self._client = avalkey.Valkey.from_url(
                url, single_connection_client=True, **self.options
            )
        return self._client

    async def reset(self) -> None:
        """Drop the connection after an error; the next call finds the primary again."""
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(Exception):
                await client.aclose()
