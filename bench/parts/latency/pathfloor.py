"""The same-path floor: an event's whole path with nothing in it but the insert.

The auth side runs in the benchmark: it inserts a user into a SQLite file with auth's schema,
stamps the commit, stamps and signs the real user.registered payload as auth does, and sends it
with PUBLISH or XADD on the stack's Valkey. One floor consumer process per consumer service
receives it on a plain connection and, as its only handling, inserts the user into a SQLite
file with that service's schema, stamping each stage on CLOCK_MONOTONIC like the services do.
It runs while a registration burst of the modes' size loads the stack, between the modes'
rounds, so the path, the payload, the database kind and the load match and only the handling
differs.

Run as `python -m bench.parts.latency.pathfloor URL TRANSPORT SERVICE DB_FILE` for one floor
consumer: it prints `ready` once subscribed, then the stamps of every event as JSON lines
after the stop message.
"""

from __future__ import annotations

import asyncio
import functools
import json
import subprocess
import sys
import time
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

import valkey
import valkey.asyncio as avalkey
from sqlalchemy import Engine

from auth import store as auth_store
from auth.service import stamp_commit
from bench.parts.latency.stamps import sample_of, split, total_ms
from bench.results import PathFloor, PropagationSample, Stats
from common.db import make_engine
from common.settings import CONSUMER_SERVICES
from common.tokens import SigningKey, generate_private_key
from consumers import store
from consumers.app import service_spec
from events import signing
from events.model import CloudEvent, user_event

CHANNEL = "bench.parts.latency.pathfloor"
STREAM = "bench.parts.latency.pathfloor.stream"
STOP = "floor.stop"
GAP_S = 0.02  # between two floor events while the burst runs
WAIT_S = 10.0  # for the floor consumers to report after the last event


def consume(url: str, transport: str, service: str, db_file: str) -> None:
    """The floor consumer: receive, insert, stamp; print the stamps after the stop message."""
    engine = make_engine(f"sqlite:///{db_file}")
    spec = service_spec(service)
    store.create_schema(engine, spec)
    client = valkey.Valkey.from_url(url)
    records = []
    if transport == "pubsub":
        pubsub = client.pubsub(ignore_subscribe_messages=True)
        pubsub.subscribe(CHANNEL)
        pubsub.get_message(timeout=1.0)  # the subscription's confirmation
    else:
        try:
            client.xgroup_create(STREAM, service, id="$", mkstream=True)
        except valkey.ResponseError as exc:  # a floor round before this one made the group
            if "BUSYGROUP" not in str(exc):
                raise
    print("ready", flush=True)
    while True:
        if transport == "pubsub":
            message = pubsub.get_message(timeout=1.0)
            if not message:
                continue
            received, raw, entry = time.monotonic_ns(), message["data"], None
        else:
            reply: Any = client.xreadgroup(service, "floor", {STREAM: ">"}, count=1, block=1000)
            if not reply:
                continue
            received = time.monotonic_ns()
            entry, fields = reply[0][1][0]
            raw = fields[b"event"]
        attributes = json.loads(raw)
        if attributes.get("type") == STOP:
            break
        data = attributes["data"]
        began = time.monotonic_ns()
        store.provision(engine, spec, data["user_id"], data["username"], "event")
        done = time.monotonic_ns()
        if entry is not None:
            client.xack(STREAM, service, entry)
        records.append(
            {
                "user_id": data["user_id"],
                "commit": attributes["commitmono"],
                "publish": attributes["publishmono"],
                "receive": received,
                "provision_start": began,
                "provision_commit": done,
            }
        )
    for record in records:
        print(json.dumps(record), flush=True)
    engine.dispose()


def _commit_user(engine: Engine, name: str) -> tuple[CloudEvent, int]:
    """Insert a user with auth's schema and stage its event as auth does; (event, commit)."""
    staged: list[CloudEvent] = []

    def stage(conn: object, user_id: int, username: str) -> None:
        staged.append(user_event("user.registered", user_id, username, version=1))

    _user_id, committed = stamp_commit(
        functools.partial(auth_store.insert_user, engine, name, name, "floor-hash", stage)
    )
    return staged[0], committed


class PathFloorRun:
    """The floor's auth side and its consumer processes, for one transport."""

    def __init__(self, url: str, transport: str, state_dir: Path, alg: str) -> None:
        self.url = url
        self.transport = transport
        self.state_dir = state_dir
        self.key = SigningKey("floor", alg, generate_private_key(alg))
        self.engine = make_engine(f"sqlite:///{state_dir / 'floor-auth.sqlite3'}")
        auth_store.create_schema(self.engine)

    async def _send(self, client: avalkey.Valkey, attributes: str) -> None:
        if self.transport == "pubsub":
            await client.publish(CHANNEL, attributes)
        else:
            await client.xadd(STREAM, {"event": attributes})

    async def run(
        self, load: Awaitable[object], round_: int, least: int
    ) -> tuple[list[PropagationSample], int]:
        """Send floor events one after another while `load` runs (and at least `least`);
        the samples the floor consumers reported, one per event each committed, and how many
        events were sent."""
        procs = [self._start(service) for service in CONSUMER_SERVICES]
        client = avalkey.Valkey.from_url(self.url)
        sent = 0
        try:
            for proc in procs:
                await asyncio.to_thread(_await_ready, proc)
            burst = asyncio.ensure_future(load)
            tag = f"floor-{time.monotonic_ns()}"
            while not burst.done() or sent < least:
                event, committed = await asyncio.to_thread(
                    _commit_user, self.engine, f"{tag}-{sent}"
                )
                stamped = event.stamped(commitmono=committed, publishmono=time.monotonic_ns())
                await self._send(client, signing.sign(stamped, self.key))
                sent += 1
                await asyncio.sleep(GAP_S)
            await burst
            await self._send(client, json.dumps({"type": STOP}))
            outputs = await asyncio.gather(*(asyncio.to_thread(_output, p) for p in procs))
        finally:
            await client.aclose()
            for proc in procs:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait(5)
        samples = []
        for service, lines in zip(CONSUMER_SERVICES, outputs, strict=True):
            for line in lines:
                stamps = json.loads(line)
                sample = sample_of(stamps.pop("user_id"), service, round_, stamps)
                if sample is not None:
                    samples.append(sample)
        return samples, sent

    def _start(self, service: str) -> subprocess.Popen[str]:
        db_file = self.state_dir / f"floor-{self.transport}-{service}.sqlite3"
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bench.parts.latency.pathfloor",
                self.url,
                self.transport,
                service,
                str(db_file),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )

    def close(self) -> None:
        self.engine.dispose()


def _await_ready(proc: subprocess.Popen[str]) -> None:
    assert proc.stdout is not None
    if proc.stdout.readline().strip() != "ready":
        raise RuntimeError("a floor consumer did not start")


def _output(proc: subprocess.Popen[str]) -> list[str]:
    try:
        out, _ = proc.communicate(timeout=WAIT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
    return [line for line in out.splitlines() if line.strip()]


def summarise(transport: str, rounds: list[list[PropagationSample]], sent: int) -> PathFloor:
    """The floor of one transport over its rounds; `sent` events went to each floor consumer."""
    samples = [s for r in rounds for s in r]
    per_round = [[total_ms(s) for s in r] for r in rounds]
    return PathFloor(
        transport=transport,
        propagation=Stats.of([x for r in per_round for x in r], per_round),
        samples=samples,
        stages=split(samples),
        timeouts=sent * len(CONSUMER_SERVICES) - len(samples),
    )


if __name__ == "__main__":
    consume(*sys.argv[1:5])
