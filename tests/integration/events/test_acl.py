"""The ACL users against a real valkey-server: each consumer writes its own dead letters only."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
import valkey
import valkey.asyncio as avalkey

from events import acl, names
from events.streams import StreamConsumer
from lab.net import free_port
from lab.valkey_server import ValkeyConfig, spawn
from tests.integration.events.helpers import Collector, decode, probe, running
from tests.support import await_for, wait_for

pytestmark = pytest.mark.timeout(60)


class AclValkey:
    """A valkey-server started with the stack's ACL file, and a URL per ACL user."""

    def __init__(self, tmp: Path) -> None:
        self.passwords = {user: secrets.token_urlsafe(16) for user in acl.users()}
        self.config = ValkeyConfig(
            port=free_port(), data_dir=tmp / "valkey", acl=acl.acl_file(self.passwords)
        )
        self.proc = spawn(self.config, tmp / "valkey.log")

    def url(self, user: str) -> str:
        return f"redis://{user}:{self.passwords[user]}@127.0.0.1:{self.config.port}/0"

    def client(self, user: str) -> valkey.Valkey:
        return valkey.Valkey.from_url(self.url(user), socket_timeout=2)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[AclValkey]:
    server = AclValkey(tmp_path)
    admin = server.client(acl.ADMIN)
    try:
        wait_for(admin.ping, timeout=10, what="valkey-server PING as admin")
        yield server
    finally:
        admin.close()
        server.proc.terminate()
        server.proc.wait(10)


def test_each_consumer_appends_to_its_own_dead_letters_only(server: AclValkey) -> None:
    admin = server.client(acl.ADMIN)
    for service in ("profiles", "notifications"):
        admin.xadd(names.dead_letter(service), {"payload": "kept"})
    denied = valkey.exceptions.NoPermissionError
    for service, other in (("profiles", "notifications"), ("notifications", "profiles")):
        consumer = server.client(service)
        assert consumer.xadd(names.dead_letter(service), {"payload": "{}"})
        with pytest.raises(denied):
            consumer.xadd(names.dead_letter(other), {"payload": "{}"}, maxlen=0)
        with pytest.raises(denied):
            consumer.xtrim(names.dead_letter(other), maxlen=0)
        with pytest.raises(denied):
            consumer.delete(names.dead_letter(other))
        with pytest.raises(denied):
            consumer.xadd("users.events.dead", {"payload": "{}"})  # no shared stream left
        with pytest.raises(denied):
            consumer.xtrim(names.dead_letter(service), maxlen=0)  # XADD only, even its own
        consumer.close()
    publisher = server.client(acl.PUBLISHER)
    with pytest.raises(denied):
        publisher.xadd(names.dead_letter("profiles"), {"payload": "{}"})
    publisher.close()
    for service in ("profiles", "notifications"):  # nobody else trimmed them
        assert admin.xlen(names.dead_letter(service)) == 2
    admin.close()


def test_the_consumer_dead_letters_into_its_own_stream_as_its_acl_user(
    server: AclValkey,
) -> None:
    async def scenario() -> None:
        admin = avalkey.Valkey.from_url(server.url(acl.ADMIN), socket_timeout=2)
        got = Collector()
        consumer = StreamConsumer(
            server.url("profiles"),
            group="profiles",
            consumer="profiles",
            handler=got,
            decode=decode,
            block_ms=200,
        )
        async with running(consumer.run()):
            poison = (await admin.xadd(names.STREAM, {names.STREAM_FIELD: "{nope"})).decode()
            await await_for(probe(lambda: consumer.dead_lettered == 1), what="a dead letter")
        letters = await admin.xrange(names.dead_letter("profiles"))
        assert [f[b"id"].decode() for _, f in letters] == [poison]
        assert await admin.xlen(names.dead_letter("notifications")) == 0
        await admin.aclose()

    asyncio.run(scenario())
