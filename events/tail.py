"""Print events live as they flow, from the pub/sub channel or the stream."""

from __future__ import annotations

from collections.abc import Callable

from common.settings import Transport
from events import names
from events.connection import cluster_nodes, connect


async def tail(
    url: str,
    transport: Transport,
    out: Callable[[str], None],
    limit: int | None = None,
    from_start: bool = False,
) -> int:
    """Print each event's JSON as it arrives; stops after `limit` events if given."""
    if transport == "pubsub":  # on a cluster, any one node hears every PUBLISH
        url = (await cluster_nodes(url, socket_connect_timeout=2.0))[0]
    client = connect(url, socket_connect_timeout=2.0)
    seen = 0
    try:
        if transport == "pubsub":
            pubsub = client.pubsub(ignore_subscribe_messages=True)
            await pubsub.subscribe(names.CHANNEL)
            try:
                while limit is None or seen < limit:
                    message = await pubsub.get_message(timeout=1.0)
                    if message and message.get("type") == "message":
                        data = message["data"]
                        out(data.decode() if isinstance(data, bytes) else str(data))
                        seen += 1
            finally:
                await pubsub.aclose()
        else:
            last = "0" if from_start else "$"
            while limit is None or seen < limit:
                reply = await client.xread({names.STREAM: last}, block=1000, count=100)
                for _stream, entries in reply or []:
                    for entry_id, fields in entries:
                        last = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
                        raw = fields.get(names.STREAM_FIELD.encode(), b"")
                        out(raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw))
                        seen += 1
    finally:
        await client.aclose()
    return seen
