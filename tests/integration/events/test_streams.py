"""Streams against a real valkey-server: groups, catch-up, reclaim, dead letters, restarts."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import valkey.asyncio as avalkey

from common.tokens import SigningKey, generate_private_key
from events import names, signing
from events.checking import CheckerProcesses
from events.connection import Pinned
from events.model import CloudEvent, user_event
from events.streams import (
    Handler,
    NotReplicated,
    StreamConsumer,
    Unavailable,
    WaitReplicas,
    append,
    append_replicated,
)
from tests.integration.events.helpers import (
    Collector,
    client_of,
    decode,
    keys,
    probe,
    running,
    signed,
)
from tests.support import ValkeyProc, await_for, start_valkey

pytestmark = pytest.mark.timeout(60)

MAXLEN = 10_000


def _consumer(valkey_proc: ValkeyProc, handler: Handler, **kw: Any) -> StreamConsumer:
    options: dict[str, Any] = {"group": "profiles", "consumer": "profiles", "block_ms": 200}
    options["decode"] = decode
    options.update(kw)
    return StreamConsumer(valkey_proc.url, handler=handler, **options)


async def _add(client: avalkey.Valkey, *user_ids: int) -> list[str]:
    return [
        await append(client, signed(user_event(names.USER_REGISTERED, uid, "u")), maxlen=MAXLEN)
        for uid in user_ids
    ]


async def _deliver(client: avalkey.Valkey, got: Collector, *user_ids: int, what: str) -> None:
    """Append events for these users and wait until the handler has them all."""
    await _add(client, *user_ids)
    await await_for(lambda: got.has(*user_ids), what=what)


async def _pending(client: avalkey.Valkey, group: str = "profiles") -> int:
    return int((await client.xpending(names.STREAM, group))["pending"])


def test_append_consume_and_ack(valkey_proc: ValkeyProc) -> None:
    async def scenario() -> None:
        client = client_of(valkey_proc)
        ids = await _add(client, 1, 2, 3)
        assert all("-" in entry_id for entry_id in ids)
        raw = await client.xrange(names.STREAM)
        assert [_id.decode() for _id, _ in raw] == ids
        assert list(raw[0][1]) == [names.STREAM_FIELD.encode()]
        got = Collector()
        consumer = _consumer(valkey_proc, got)
        async with running(consumer.run()):
            await await_for(lambda: got.has(1, 2, 3), what="three events")
            await await_for(probe(lambda: consumer.processed == 3), what="three acks")
            assert consumer.state == "connected"
            assert got.user_ids == [1, 2, 3]
            assert await _pending(client) == 0
            assert await consumer.lag(client) == 0
        assert consumer.state == "disconnected"
        await client.aclose()

    asyncio.run(scenario())


def test_group_created_later_replays_the_stream(valkey_proc: ValkeyProc) -> None:
    async def scenario() -> None:
        client = client_of(valkey_proc)
        first = Collector()
        async with running(_consumer(valkey_proc, first).run()):
            await _add(client, 1, 2)
            await await_for(lambda: first.has(1, 2), what="first group")
        late = Collector()
        consumer = _consumer(valkey_proc, late, group="notifications", consumer="notifications")
        assert await consumer.lag(client) is None  # no such group yet
        await consumer.ensure_group(client)
        await consumer.ensure_group(client)  # BUSYGROUP is fine
        assert await consumer.lag(client) == 2
        async with running(consumer.run()):
            await await_for(lambda: late.has(1, 2), what="replay for the late group")
        assert late.user_ids == [1, 2]
        await client.aclose()

    asyncio.run(scenario())


def test_consumer_that_was_down_catches_up(valkey_proc: ValkeyProc) -> None:
    async def scenario() -> None:
        client = client_of(valkey_proc)
        got = Collector()
        consumer = _consumer(valkey_proc, got)
        async with running(consumer.run()):
            await _deliver(client, got, 1, what="event before downtime")
        await _add(client, 2, 3)
        assert await consumer.lag(client) == 2
        async with running(_consumer(valkey_proc, got).run()):
            await await_for(lambda: got.has(2, 3), what="catch-up")
            await await_for(lambda: _lag_is(consumer, client, 0), what="lag back to zero")
        assert got.user_ids == [1, 2, 3]
        await client.aclose()

    asyncio.run(scenario())


async def _lag_is(consumer: StreamConsumer, client: avalkey.Valkey, value: int) -> bool:
    return await consumer.lag(client) == value


def test_restarted_consumer_finishes_its_own_pending(valkey_proc: ValkeyProc) -> None:
    async def scenario() -> None:
        client = client_of(valkey_proc)
        got = Collector()
        consumer = _consumer(valkey_proc, got, consumer="profiles-1", claim_idle_ms=60_000)
        await consumer.ensure_group(client)
        await _add(client, 1, 2)
        # the same consumer name read them, then crashed before acking
        await client.xreadgroup("profiles", "profiles-1", {names.STREAM: ">"}, count=10)
        assert await _pending(client) == 2
        async with running(consumer.run()):
            await await_for(lambda: got.has(1, 2), what="own pending entries")
            await await_for(_pending_is(client, 0), what="acks")
        await client.aclose()

    asyncio.run(scenario())


def _pending_is(client: avalkey.Valkey, value: int, group: str = "profiles") -> Any:
    async def check() -> bool:
        return await _pending(client, group) == value

    return check


def test_dead_consumers_entries_are_reclaimed(valkey_proc: ValkeyProc) -> None:
    async def scenario() -> None:
        client = client_of(valkey_proc)
        got = Collector()
        consumer = _consumer(valkey_proc, got, consumer="profiles-2", claim_idle_ms=100)
        await consumer.ensure_group(client)
        await _add(client, 1, 2)
        await client.xreadgroup("profiles", "profiles-1", {names.STREAM: ">"}, count=10)
        async with running(consumer.run()):
            await _add(client, 3)
            await await_for(lambda: got.has(1, 2, 3), what="reclaimed and new entries")
            await await_for(_pending_is(client, 0), what="acks")
        assert sorted(got.user_ids) == [1, 2, 3]
        assert consumer.dead_lettered == 0
        await client.aclose()

    asyncio.run(scenario())


def test_always_failing_event_is_dead_lettered_and_the_rest_flows(
    valkey_proc: ValkeyProc,
) -> None:
    async def scenario() -> None:
        client = client_of(valkey_proc)
        got = Collector(fail_for={1})
        dead: list[tuple[str, str]] = []

        async def on_dead(raw: str, reason: str) -> None:
            dead.append((raw, reason))

        consumer = _consumer(
            valkey_proc, got, dead_letter_after=2, claim_idle_ms=100, on_dead=on_dead
        )
        async with running(consumer.run()):
            ids = await _add(client, 1, 2)
            await await_for(lambda: got.has(2), what="the event after the failing one")
            await await_for(probe(lambda: consumer.dead_lettered == 1), what="dead letter")
            await await_for(_pending_is(client, 0), what="failing entry acked")
            await _add(client, 3)
            await await_for(probe(lambda: consumer.processed == 2), what="events after it")
        assert got.user_ids == [2, 3]
        assert got.attempts[1] == 2
        assert consumer.failures == 2
        assert consumer.processed == 2
        letters = await client.xrange(names.dead_letter("profiles"))
        assert len(letters) == 1
        fields = {k.decode(): v.decode() for k, v in letters[0][1].items()}
        assert fields["id"] == ids[0]
        assert fields["group"] == "profiles"
        assert "failed 2 times" in fields["reason"]
        assert '"user_id":1' in fields["payload"]
        assert dead and dead[0][0] == fields["payload"]
        await client.aclose()

    asyncio.run(scenario())


def test_poison_entries_are_dead_lettered_at_once(valkey_proc: ValkeyProc) -> None:
    async def scenario() -> None:
        client = client_of(valkey_proc)
        got = Collector()
        consumer = _consumer(valkey_proc, got, dead_letter_after=5)
        async with running(consumer.run()):
            bad_json = (await client.xadd(names.STREAM, {names.STREAM_FIELD: "{nope"})).decode()
            no_field = (await client.xadd(names.STREAM, {"other": "x"})).decode()
            await _deliver(client, got, 7, what="the good event")
            await await_for(probe(lambda: consumer.dead_lettered == 2), what="two dead letters")
            await await_for(_pending_is(client, 0), what="poison acked")
        assert got.attempts == {7: 1}
        letters = await client.xrange(names.dead_letter("profiles"))
        by_id = {f[b"id"].decode(): f for _, f in letters}
        assert set(by_id) == {bad_json, no_field}
        assert by_id[bad_json][b"payload"] == b"{nope"
        assert b"invalid event" in by_id[bad_json][b"reason"]
        assert b"other" in by_id[no_field][b"payload"]
        await client.aclose()

    asyncio.run(scenario())


def test_entries_and_group_survive_a_valkey_restart(valkey_proc: ValkeyProc) -> None:
    async def scenario() -> None:
        client = client_of(valkey_proc)
        got = Collector()
        consumer = _consumer(valkey_proc, got, max_backoff=0.2)
        await consumer.ensure_group(client)
        await _add(client, 1, 2)
        await client.aclose()
        await asyncio.to_thread(valkey_proc.stop)
        await asyncio.to_thread(valkey_proc.start)
        client = client_of(valkey_proc)
        assert await consumer.lag(client) == 2
        async with running(consumer.run()):
            await await_for(lambda: got.has(1, 2), what="entries kept by AOF")
            await asyncio.to_thread(valkey_proc.stop)
            await await_for(probe(lambda: consumer.state == "disconnected"), what="disconnect")
            await asyncio.to_thread(valkey_proc.start)
            await asyncio.wait_for(consumer.connected.wait(), 5)
            await client.aclose()
            client = client_of(valkey_proc)
            await _deliver(client, got, 3, what="event after restart")
        assert got.user_ids == [1, 2, 3]
        assert consumer.reconnects >= 1
        await client.aclose()

    asyncio.run(scenario())


def test_lost_group_is_recreated(valkey_proc: ValkeyProc) -> None:
    async def scenario() -> None:
        client = client_of(valkey_proc)
        got = Collector()
        consumer = _consumer(valkey_proc, got)
        async with running(consumer.run()):
            await _deliver(client, got, 1, what="first event")
            await client.delete(names.STREAM)  # as if Valkey came back without its data
            await _deliver(client, got, 2, what="event after the group was lost")
            await _deliver(client, got, 3, what="later events")
        assert got.user_ids == [1, 2, 3]
        await client.aclose()

    asyncio.run(scenario())


def test_lag_falls_back_when_valkey_cannot_tell(valkey_proc: ValkeyProc) -> None:
    async def scenario() -> None:
        client = client_of(valkey_proc)
        consumer = _consumer(valkey_proc, Collector())
        await consumer.ensure_group(client)
        ids = await _add(client, 1, 2, 3, 4, 5)
        await client.xdel(names.STREAM, ids[2])  # a tombstone makes XINFO's lag null
        groups = await client.xinfo_groups(names.STREAM)
        assert groups[0]["lag"] is None
        assert await consumer.lag(client) == 4
        await client.xreadgroup("profiles", "x", {names.STREAM: ">"}, count=1)
        assert await consumer.lag(client) == 4  # 1 pending + 3 never delivered
        await client.aclose()

    asyncio.run(scenario())


def test_storage_outage_is_never_dead_lettered(valkey_proc: ValkeyProc) -> None:
    """A handler whose database is down defers the event however often it is redelivered;
    the event is applied once the database is back."""

    async def scenario() -> None:
        client = client_of(valkey_proc)
        outage = asyncio.Event()
        outage.set()
        got = Collector()

        async def handler(event: Any) -> None:
            if outage.is_set():
                got.attempts[0] = got.attempts.get(0, 0) + 1
                raise Unavailable("database unavailable")
            await got(event)

        consumer = _consumer(valkey_proc, handler, dead_letter_after=2, claim_idle_ms=100)
        async with running(consumer.run()):
            await _add(client, 7)
            await await_for(probe(lambda: got.attempts.get(0, 0) >= 5), what="redeliveries")
            assert consumer.dead_lettered == 0
            outage.clear()
            await await_for(lambda: got.has(7), what="the event once the database is back")
            await await_for(_pending_is(client, 0), what="the event acked")
        assert await client.xlen(names.dead_letter("profiles")) == 0
        await client.aclose()

    asyncio.run(scenario())


class Batches:
    """A batch handler that records each batch it is given and the entries still pending
    while it applies them; it can be told to fail."""

    def __init__(self, client: avalkey.Valkey) -> None:
        self.client = client
        self.batches: list[list[int]] = []
        self.pending_while_applying: list[int] = []
        self.fail: type[Exception] | None = None

    async def __call__(self, events: list[CloudEvent]) -> None:
        self.pending_while_applying.append(await _pending(self.client))
        if self.fail is not None:
            raise self.fail("the batch cannot be applied")
        self.batches.append([e.data.user_id for e in events])

    @property
    def user_ids(self) -> list[int]:
        return [uid for batch in self.batches for uid in batch]


def test_a_batch_is_acked_once_applied(valkey_proc: ValkeyProc) -> None:
    async def scenario() -> None:
        client = client_of(valkey_proc)
        batches = Batches(client)
        batches.fail = Unavailable
        consumer = _consumer(
            valkey_proc, Collector(), batch_handler=batches, batch=10, claim_idle_ms=100
        )
        await consumer.ensure_group(client)
        await _add(client, *range(1, 8))
        async with running(consumer.run()):
            await await_for(probe(lambda: len(batches.pending_while_applying) >= 2), what="retry")
            assert await _pending(client) == 7 and consumer.dead_lettered == 0  # nothing acked
            batches.fail = None
            await await_for(probe(lambda: consumer.processed == 7), what="the batch applied")
            await await_for(_pending_is(client, 0), what="the batch acked")
        assert batches.user_ids == list(range(1, 8)) and len(batches.batches) == 1
        assert batches.pending_while_applying[-1] == 7  # acked only after it was applied
        await client.aclose()

    asyncio.run(scenario())


def test_a_forged_entry_is_dead_lettered_and_the_rest_of_its_batch_applies(
    valkey_proc: ValkeyProc,
) -> None:
    async def scenario() -> None:
        client = client_of(valkey_proc)
        batches = Batches(client)
        consumer = _consumer(valkey_proc, Collector(), batch_handler=batches, batch=10)
        await consumer.ensure_group(client)
        await _add(client, 1, 2)
        other = SigningKey("events-test", "EdDSA", generate_private_key("EdDSA"))  # same kid
        forged = signing.sign(user_event(names.USER_REGISTERED, 66, "mallory"), other)
        forged_id = await append(client, forged, maxlen=MAXLEN)
        await _add(client, 3)
        async with running(consumer.run()):
            await await_for(probe(lambda: consumer.processed == 3), what="the good events")
            await await_for(_pending_is(client, 0), what="every entry acked")
        assert batches.batches == [[1, 2, 3]] and consumer.dead_lettered == 1
        letters = await client.xrange(names.dead_letter("profiles"))
        assert [f[b"id"].decode() for _, f in letters] == [forged_id]
        assert b"wrong signature" in letters[0][1][b"reason"]
        await client.aclose()

    asyncio.run(scenario())


def test_a_failed_batch_is_applied_one_event_at_a_time(valkey_proc: ValkeyProc) -> None:
    async def scenario() -> None:
        client = client_of(valkey_proc)
        batches = Batches(client)
        batches.fail = RuntimeError
        one_by_one = Collector(fail_for={2})
        consumer = _consumer(
            valkey_proc,
            one_by_one,
            batch_handler=batches,
            batch=10,
            dead_letter_after=2,
            claim_idle_ms=100,
        )
        await _add(client, 1, 2, 3)
        async with running(consumer.run()):
            await await_for(lambda: one_by_one.has(1, 3), what="the events not at fault")
            await await_for(probe(lambda: consumer.dead_lettered == 1), what="the one at fault")
            await await_for(_pending_is(client, 0), what="every entry acked")
        assert one_by_one.attempts[2] == 2 and batches.batches == []
        await client.aclose()

    asyncio.run(scenario())


def test_append_replicated_needs_a_replica_to_acknowledge(
    valkey_proc: ValkeyProc, tmp_path: Path
) -> None:
    asyncio.run(_replicated(valkey_proc, tmp_path))


async def _replicated(valkey_proc: ValkeyProc, tmp_path: Path) -> None:
    pinned = Pinned(valkey_proc.url, names.STREAM, socket_timeout=2)
    wait = WaitReplicas(pinned, replicas=1, timeout_ms=100)
    try:
        with pytest.raises(NotReplicated):  # no replica yet: the row would stay pending
            await append_replicated(wait, "{}", maxlen=MAXLEN)
        replica = start_valkey(
            tmp_path / "replica", replicaof=f"127.0.0.1 {valkey_proc.config.port}"
        )
        try:

            async def linked() -> bool:
                info = await client_of(replica).info("replication")
                return bool(info.get("master_link_status") == "up")

            await await_for(linked, timeout=15, what="the replica to link")
            entry = await append_replicated(wait, "{}", maxlen=MAXLEN)
            assert await client_of(replica).xrange(names.STREAM, entry, entry)
        finally:
            assert replica.proc is not None
            replica.proc.kill()  # a SIGTERM'd replica may wait on its primary
            replica.proc.wait(10)
    finally:
        await pinned.reset()


def test_large_batches_are_checked_in_a_child_and_apply_in_stream_order(
    valkey_proc: ValkeyProc,
) -> None:
    async def scenario() -> None:
        client = client_of(valkey_proc)
        batches = Batches(client)
        refused: list[int] = []
        checker = CheckerProcesses(1)
        consumer = _consumer(
            valkey_proc,
            Collector(),
            batch_handler=batches,
            batch=40,
            decode_many=signing.batch_verifier(keys, lambda: refused.append(1), checker),
        )
        await consumer.ensure_group(client)
        await _add(client, *range(1, 51))
        other = SigningKey("events-test", "EdDSA", generate_private_key("EdDSA"))  # same kid
        forged = signing.sign(user_event(names.USER_REGISTERED, 66, "m"), other)
        await append(client, forged, maxlen=MAXLEN)
        await _add(client, *range(51, 121))
        try:
            async with running(consumer.run()):
                await await_for(probe(lambda: consumer.processed == 120), what="every event")
                await await_for(_pending_is(client, 0), what="every entry acked")
                assert checker.pids(), "a batch this large is checked in a child process"
        finally:
            await checker.aclose()
        assert batches.user_ids == list(range(1, 121))  # batch after batch, in stream order
        assert consumer.dead_lettered == 1 and refused == [1]
        await client.aclose()

    asyncio.run(scenario())
