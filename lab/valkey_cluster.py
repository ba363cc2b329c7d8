"""An embedded Valkey Cluster: three primaries and their three replicas on loopback."""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import valkey

from lab.valkey_server import cli_invocation

PRIMARIES = 3
NODES = 2 * PRIMARIES  # one replica per primary


class ClusterError(RuntimeError):
    """The cluster could not be formed or did not become ready in time."""


def node_ports(base: int) -> list[int]:
    """The nodes' ports: the primaries on base..base+2, their replicas on base+3..base+5."""
    return [base + k for k in range(NODES)]


def node_settings(node_timeout_ms: int) -> dict[str, str]:
    """What makes a valkey-server a cluster node; each node keeps nodes.conf in its own dir."""
    return {
        "cluster-enabled": "yes",
        "cluster-config-file": "nodes.conf",
        "cluster-node-timeout": str(node_timeout_ms),
        # a replica that lost its primary a while ago still takes over: the point is failover
        "cluster-replica-validity-factor": "0",
    }


def replication_conf(user: str, password: str) -> str:
    """Config-file lines with which a replica authenticates to its primary under ACLs; kept
    in a private file so the password never shows in a process listing."""
    return f"masteruser {user}\nmasterauth {password}\n"


@dataclass
class EmbeddedCluster:
    """Forms and probes the embedded cluster as the admin user (one URL per node)."""

    node_urls: list[str]

    def _client(self, url: str) -> valkey.Valkey:
        return valkey.Valkey.from_url(url, socket_timeout=2.0, socket_connect_timeout=1.0)

    def _info(self, url: str, section: str) -> dict[str, str]:
        client = self._client(url)
        try:
            if section == "cluster":  # valkey-py parses CLUSTER INFO into a dict
                info: dict[str, object] = client.execute_command("CLUSTER INFO")
            else:
                info = client.info(section)  # type: ignore[assignment]  # a sync client
            return {str(k): str(v) for k, v in info.items()}
        finally:
            client.close()

    def formed(self) -> bool:
        """True once the first node knows every other node (the cluster was created before)."""
        return int(self._info(self.node_urls[0], "cluster").get("cluster_known_nodes", 1)) >= NODES

    def create(self, timeout: float = 60.0) -> None:
        """`valkey-cli --cluster create ... --cluster-replicas 1`, as the admin user."""
        addresses = [f"{urlsplit(url).hostname}:{urlsplit(url).port}" for url in self.node_urls]
        argv, env = cli_invocation(
            self.node_urls[0],
            ["--cluster", "create", *addresses, "--cluster-replicas", "1", "--cluster-yes"],
        )
        done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0 or "[OK] All 16384 slots covered" not in done.stdout:
            tail = (done.stdout + done.stderr).strip().splitlines()[-1:] or ["no output"]
            raise ClusterError(f"valkey-cli --cluster create failed: {tail[0]}")

    def ready(self) -> bool:
        """Every node says cluster_state:ok and every replica's link to its primary is up."""
        replicas = 0
        for url in self.node_urls:
            try:
                if self._info(url, "cluster").get("cluster_state") != "ok":
                    return False
                replication = self._info(url, "replication")
            except valkey.ValkeyError:
                return False
            if replication.get("role") == "slave":
                replicas += 1
                if replication.get("master_link_status") != "up":
                    return False
        return replicas == NODES - PRIMARIES

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Poll `ready` until it holds; a primary killed before its replica synced would have
        nobody to take over."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.ready():
                return
            time.sleep(0.1)
        raise ClusterError(f"the cluster was not ready within {timeout:.0f}s")

    def ensure(self, timeout: float = 60.0) -> None:
        """Create the cluster unless its nodes remember one, then wait until it is ready."""
        if not self.formed():
            self.create(timeout)
        self.wait_ready(timeout)
