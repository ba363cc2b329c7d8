"""Which processes really used Valkey during a window: its own CLIENT LIST, per ACL user."""

from __future__ import annotations

import valkey.asyncio as avalkey

from events import acl

Clients = dict[str, tuple[str, int]]  # client id -> (ACL user, commands it sent so far)


async def client_counters(url: str) -> Clients:
    """Every connected client's ACL user and command count, the benchmark's own left out."""
    client = avalkey.Valkey.from_url(url)
    try:
        listed = await client.client_list()
    finally:
        await client.aclose()
    return {
        str(c["id"]): (str(c.get("user", "")), int(c.get("tot-cmds", 0)))
        for c in listed
        if c.get("user") != acl.ADMIN
    }


def users_active(before: Clients, after: Clients) -> set[str]:
    """ACL users that opened a connection or sent a command between two snapshots.

    A connection left idle from an earlier mode is not use: Valkey kept running for a live
    switch serves nobody.
    """
    active = set()
    for cid, (user, commands) in after.items():
        earlier = before.get(cid)
        if earlier is None or commands > earlier[1]:
            active.add(user)
    return active
