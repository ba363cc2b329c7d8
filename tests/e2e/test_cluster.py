"""Every mode on a real Valkey Cluster: embedded by `up`, or one the test started itself."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import valkey

from common.settings import Mode, Publish
from events import names
from lab.isolated import isolated_env
from lab.net import free_port_run
from lab.processes import Stack
from lab.valkey_cluster import NODES, EmbeddedCluster, node_ports, node_settings
from lab.valkey_server import ValkeyConfig, spawn
from tests.e2e.client import client
from tests.e2e.conftest import StackFactory
from tests.support import wait_for

pytestmark = pytest.mark.slow

CONSUMERS = ("profiles", "notifications")
MODES = [
    (Mode.PUBSUB, Publish.DIRECT),
    (Mode.STREAMS, Publish.OUTBOX),
    (Mode.HYBRID, Publish.OUTBOX),
]


def register(stack: Stack) -> int:
    return client(stack).new_user("u")[0]


def known(stack: Stack, service: str) -> set[int]:
    return set(client(stack).known(service))


def switch(stack: Stack, mode: Mode, publish: Publish) -> None:
    stack.set_mode(mode, publish)
    for service in CONSUMERS:
        wait_for(
            lambda s=service: (
                stack.client().internal(stack.spec(s).port, "GET", "status")["subscriber"]
                == "connected"
            ),
            timeout=15,
            what=f"{service} connected to the cluster",
        )


def all_know(stack: Stack, ids: set[int], timeout: float = 15.0) -> None:
    for service in CONSUMERS:
        wait_for(
            lambda s=service: ids <= known(stack, s),
            timeout=timeout,
            what=f"{service} to know {sorted(ids)}",
        )


def every_mode_propagates(stack: Stack) -> None:
    for mode, publish in MODES:
        switch(stack, mode, publish)
        all_know(stack, {register(stack) for _ in range(3)})


@pytest.fixture(scope="module")
def cluster_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """`up --valkey cluster`: six embedded nodes with the ACL users, then the services."""
    state = tmp_path_factory.mktemp("cluster-stack")
    env = isolated_env(state, VALKEY_PORT=str(free_port_run(NODES)), LAB_VALKEY="cluster")
    stack = Stack(env=env)
    try:
        stack.up()
        yield stack
    finally:
        stack.down()


def test_up_starts_a_cluster_of_three_primaries_and_three_linked_replicas(
    cluster_stack: Stack,
) -> None:
    cluster = cluster_stack.embedded_cluster()
    assert cluster is not None
    assert cluster.ready()
    roles = []
    for url in cluster.node_urls:
        client = valkey.Valkey.from_url(url, decode_responses=True)
        try:
            roles.append(client.execute_command("INFO", "replication")["role"])
            config = client.execute_command("CONFIG GET", "cluster-enabled")
            assert config == {"cluster-enabled": "yes"}
        finally:
            client.close()
    assert sorted(roles) == ["master"] * 3 + ["slave"] * 3


def test_every_node_refuses_the_default_user_and_knows_the_acl_users(
    cluster_stack: Stack,
) -> None:
    s = cluster_stack.settings
    for port in node_ports(s.valkey_port):
        anonymous = valkey.Valkey(host="127.0.0.1", port=port)
        with pytest.raises(valkey.exceptions.ValkeyError):
            anonymous.get("x")
        anonymous.close()
        consumer = valkey.Valkey.from_url(s.valkey_node_url("profiles", port))
        with pytest.raises(valkey.exceptions.NoPermissionError):
            consumer.execute_command("PUBLISH", names.CHANNEL, "forged")
        other = names.dead_letter("notifications")
        wipes = [("XADD", other, "MAXLEN", "0", "*", "f", "v"), ("XTRIM", other, "MAXLEN", "0")]
        for command in [*wipes, ("DEL", other)]:  # the ACL is checked before any redirection
            with pytest.raises(valkey.exceptions.NoPermissionError):
                consumer.execute_command(*command)
        consumer.close()
    own = valkey.ValkeyCluster.from_url(s.valkey_node_url("profiles", s.valkey_port))
    assert own.xadd(names.dead_letter("profiles"), {"payload": "{}"})  # on whichever shard
    own.close()


def test_every_mode_propagates_on_the_embedded_cluster(cluster_stack: Stack) -> None:
    every_mode_propagates(cluster_stack)


def test_outbox_users_reach_everyone_after_the_stream_primary_is_killed(
    cluster_stack: Stack,
) -> None:
    stack = cluster_stack
    switch(stack, Mode.STREAMS, Publish.OUTBOX)
    all_know(stack, {register(stack)})
    cluster = stack.embedded_cluster()
    assert cluster is not None
    primary = stack_name_of_primary(stack, names.STREAM)
    stack.stop(primary, kill=True)
    after = {register(stack) for _ in range(3)}  # committed; the outbox keeps them pending
    all_know(stack, after, timeout=30)
    stack.start(primary)  # it rejoins as a replica of the node that took over
    wait_for(cluster.ready, timeout=30, what="the cluster to be whole again")


def stack_name_of_primary(stack: Stack, key: str) -> str:
    """The process name of the primary that holds key's slot."""
    cluster = stack.embedded_cluster()
    assert cluster is not None
    client = valkey.Valkey.from_url(cluster.node_urls[0])
    try:
        slot = int(client.execute_command("CLUSTER KEYSLOT", key))
        shards = client.execute_command("CLUSTER SLOTS")
    finally:
        client.close()
    for start, end, primary, *_ in shards:
        if start <= slot <= end:
            port = int(primary[1])
            return next(p.name for p in stack.specs() if p.port == port)
    raise AssertionError(f"no primary holds slot {slot}")


@pytest.fixture
def own_cluster(tmp_path: Path) -> Iterator[str]:
    """A Valkey Cluster this test starts itself (no ACL), as an existing cluster would be."""
    base = free_port_run(NODES)
    procs = [
        spawn(
            ValkeyConfig(port=port, data_dir=tmp_path / str(port), extra=node_settings(1000)),
            tmp_path / f"{port}.log",
        )
        for port in node_ports(base)
    ]
    try:
        urls = [f"redis://127.0.0.1:{port}/0" for port in node_ports(base)]

        def pings() -> bool:
            return all(valkey.Valkey.from_url(url, socket_timeout=0.5).ping() for url in urls)

        wait_for(pings, timeout=15, what="cluster nodes to answer")
        EmbeddedCluster(urls).ensure()
        yield f"valkey+cluster://127.0.0.1:{base}"
    finally:
        for proc in procs:
            proc.kill()
            proc.wait(10)


def test_an_existing_cluster_named_by_valkey_url_serves_every_process(
    own_cluster: str, stack_factory: StackFactory
) -> None:
    stack = stack_factory(VALKEY_URL=own_cluster)
    assert all(spec.kind != "valkey" for spec in stack.specs())  # nothing embedded started
    every_mode_propagates(stack)
    r = httpx.get(f"http://127.0.0.1:{stack.settings.lab_gateway_port}/health", timeout=5)
    assert r.status_code == 200
