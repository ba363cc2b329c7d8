"""Faults injected for real into a running stack: kill -9, Valkey stopped and started, Valkey's
client connections killed."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import valkey

from lab.net import port_in_use
from lab.processes import Stack

FAULT_KINDS = ("kill9", "valkey_restart", "valkey_client_kill")


@dataclass
class FaultInjector:
    """Breaks one stack on demand and records what it did and when."""

    stack: Stack
    rng: random.Random = field(default_factory=lambda: random.Random(8725))
    started: float = field(default_factory=time.monotonic)
    log: list[dict[str, Any]] = field(default_factory=list)

    def _now(self) -> float:
        return round(time.monotonic() - self.started, 2)

    def _record(self, at: float, kind: str, target: str, **extra: Any) -> dict[str, Any]:
        """Log a fault: when it struck, and how long until the broken part served again."""
        entry = {
            "at_s": at,
            "kind": kind,
            "target": target,
            "back_after_s": round(self._now() - at, 2),
        }
        entry.update(extra)
        self.log.append(entry)
        return entry

    def kill9(self, name: str | None = None) -> dict[str, Any]:
        """SIGKILL one process (a random one unless named), then start it again."""
        target = name or self.rng.choice([spec.name for spec in self.stack.specs()])
        at = self._now()
        self.stack.stop(target, kill=True)
        self._wait_port_free(target)
        self.stack.start(target)
        return self._record(at, "kill9", target)

    def _wait_port_free(self, name: str, timeout: float = 90.0) -> None:
        """A killed server's connections linger until its clients close their end, and hold
        the port meanwhile: wait for it, as an operator restarting it would."""
        port, host = self.stack.spec(name).port, self.stack.settings.lab_bind_host
        deadline = time.monotonic() + timeout
        while port_in_use(port, host):
            if time.monotonic() > deadline:
                raise RuntimeError(f"port {port} of {name} still held {timeout:g}s after kill -9")
            time.sleep(0.1)

    def valkey_restart(self, down_s: float = 1.0) -> dict[str, Any]:
        """Stop Valkey cleanly, leave it down for a while, start it again."""
        at = self._now()
        self.stack.stop("valkey")
        time.sleep(down_s)  # the outage itself: how long nobody can reach the bus
        self.stack.start("valkey")
        return self._record(at, "valkey_restart", "valkey", down_s=down_s)

    def valkey_client_kill(self) -> dict[str, Any]:
        """CLIENT KILL every other connection, subscribers included, as the admin user."""
        at = self._now()
        client = valkey.Valkey.from_url(self.stack.settings.effective_valkey_url)
        try:
            killed = sum(
                int(client.execute_command("CLIENT", "KILL", "TYPE", kind, "SKIPME", "yes"))
                for kind in ("normal", "pubsub")
            )
        finally:
            client.close()
        return self._record(at, "valkey_client_kill", "valkey", connections=killed)

    def random_fault(self) -> dict[str, Any]:
        """One fault of a random kind."""
        kinds: dict[str, Callable[[], dict[str, Any]]] = {
            "kill9": self.kill9,
            "valkey_restart": self.valkey_restart,
            "valkey_client_kill": self.valkey_client_kill,
        }
        return kinds[self.rng.choice(FAULT_KINDS)]()
