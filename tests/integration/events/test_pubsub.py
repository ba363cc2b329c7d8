"""Pub/sub against a real valkey-server: delivery, reconnects after kills and restarts."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
import valkey.asyncio as avalkey

from events import names
from events.model import user_event
from events.pubsub import PubSubSubscriber, publish
from tests.integration.events.helpers import Collector, client_of, decode, running, signed
from tests.support import ValkeyProc, await_for

pytestmark = pytest.mark.timeout(60)


@contextlib.asynccontextmanager
async def _subscribed(sub: PubSubSubscriber) -> AsyncIterator[None]:
    """Run the subscriber for the block, from the moment it is subscribed."""
    async with running(sub.run()):
        await asyncio.wait_for(sub.connected.wait(), 5)
        yield


def _disconnected(sub: PubSubSubscriber) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return sub.state == "disconnected"

    return check


async def _pubsub_clients(client: avalkey.Valkey) -> int:
    return len(await client.client_list(_type="pubsub"))


def test_publish_reaches_subscriber_and_cancel_closes(valkey_proc: ValkeyProc) -> None:
    async def scenario() -> None:
        got = Collector()
        sub = PubSubSubscriber(valkey_proc.url, got, decode)
        client = client_of(valkey_proc)
        async with _subscribed(sub):
            assert sub.state == "connected"
            assert await publish(client, signed(user_event(names.USER_REGISTERED, 1, "ann"))) == 1
            await await_for(lambda: got.has(1), what="event 1")
            assert got.events[0].data.username == "ann"
        assert sub.state == "disconnected"
        assert sub.reconnects == 0
        await await_for(lambda: _no_pubsub_clients(client), what="subscriber connection closed")
        await client.aclose()

    async def _no_pubsub_clients(client: avalkey.Valkey) -> bool:
        return await _pubsub_clients(client) == 0

    asyncio.run(scenario())


def test_failing_handler_and_invalid_messages_do_not_stop_it(valkey_proc: ValkeyProc) -> None:
    async def scenario() -> None:
        got = Collector(fail_for={1})
        invalid: list[tuple[bytes, str]] = []

        async def on_invalid(raw: bytes, reason: str) -> None:
            invalid.append((raw, reason))
            raise RuntimeError("a broken callback is logged, not fatal")

        sub = PubSubSubscriber(valkey_proc.url, got, decode, on_invalid=on_invalid)
        client = client_of(valkey_proc)
        async with _subscribed(sub):
            await publish(client, signed(user_event(names.USER_REGISTERED, 1, "fails")))
            await client.publish(names.CHANNEL, b"{not json")
            await publish(client, signed(user_event(names.USER_REGISTERED, 2, "ok")))
            await await_for(lambda: got.has(2), what="event after failures")
            assert got.attempts[1] == 1
            assert [raw for raw, _ in invalid] == [b"{not json"]
            assert (sub.handler_errors, sub.invalid, sub.reconnects) == (1, 1, 0)
        await client.aclose()

    asyncio.run(scenario())


def test_client_kill_is_noticed_and_resubscribed(valkey_proc: ValkeyProc) -> None:
    async def scenario() -> None:
        got = Collector()
        sub = PubSubSubscriber(valkey_proc.url, got, decode)
        client = client_of(valkey_proc)
        async with _subscribed(sub):
            assert await client.execute_command("CLIENT", "KILL", "TYPE", "pubsub") == 1

            async def resubscribed() -> bool:
                return sub.reconnects == 1 and sub.connected.is_set()

            await await_for(resubscribed, timeout=2, what="resubscription after CLIENT KILL")
            assert await publish(client, signed(user_event(names.USER_REGISTERED, 5, "eve"))) == 1
            await await_for(lambda: got.has(5), timeout=2, what="event after reconnect")
        await client.aclose()

    asyncio.run(scenario())


def test_valkey_restart_disconnects_then_reconnects(valkey_proc: ValkeyProc) -> None:
    async def scenario() -> None:
        got = Collector()
        sub = PubSubSubscriber(valkey_proc.url, got, decode, max_backoff=0.2)
        async with _subscribed(sub):
            await asyncio.to_thread(valkey_proc.stop)

            await await_for(_disconnected(sub), timeout=2, what="subscriber notices Valkey is gone")
            await asyncio.to_thread(valkey_proc.start)
            await asyncio.wait_for(sub.connected.wait(), 3)
            assert sub.state == "connected" and sub.reconnects == 1
            client = client_of(valkey_proc)
            assert await publish(client, signed(user_event(names.USER_REGISTERED, 9, "zed"))) == 1
            await await_for(lambda: got.has(9), what="event after restart")
            await client.aclose()

    asyncio.run(scenario())


def test_hung_server_is_noticed_by_pings(valkey_proc: ValkeyProc) -> None:
    """A frozen server closes nothing; only the missing pong gives it away."""
    assert valkey_proc.proc is not None
    proc = valkey_proc.proc

    async def scenario() -> None:
        got = Collector()
        sub = PubSubSubscriber(
            valkey_proc.url, got, decode, health_check_interval=0.2, max_backoff=0.2
        )
        async with _subscribed(sub):
            proc.send_signal(signal.SIGSTOP)
            try:
                await await_for(_disconnected(sub), timeout=3, what="silence detected")
            finally:
                proc.send_signal(signal.SIGCONT)
            await asyncio.wait_for(sub.connected.wait(), 5)
            client = client_of(valkey_proc)
            assert await publish(client, signed(user_event(names.USER_REGISTERED, 3, "kim"))) == 1
            await await_for(lambda: got.has(3), what="event after the server thawed")
            await client.aclose()

    asyncio.run(scenario())
