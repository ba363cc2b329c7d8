"""The stack's supervisor: its recorded settings; starting, stopping and probing processes."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil
import valkey

from common import logs
from common.settings import (
    CONSUMER_SERVICES,
    Mode,
    Publish,
    Settings,
    Topology,
    port_setting,
    replica_name,
    write_private,
)
from common.statefiles import UMASK, open_private_log, private_dir, tighten
from events import acl
from lab import recorded, valkey_cluster
from lab.client import LabClient
from lab.net import port_holder, port_in_use
from lab.valkey_server import ValkeyConfig, spawn

ROOT = Path(__file__).resolve().parent.parent
Progress = Callable[[str], None]
FRONTS = ("gateway", "dashboard")  # web processes with no /internal endpoints


class StackError(RuntimeError):
    """A stack operation that failed, with a one-line reason."""


@dataclass(frozen=True)
class ProcSpec:
    """How to run one process of the stack."""

    name: str
    port: int
    kind: str  # "valkey" or "http"


@dataclass
class Stack:
    """The processes of one state dir, started from one set of settings."""

    env: dict[str, str] = field(default_factory=dict)
    # once recorded, the stack's identifying settings and its mode come from env alone
    recorded: bool = False

    @classmethod
    def load(cls, state_dir: Path | None = None) -> Stack:
        """The stack recorded by the last `up` in the state dir, or one from the environment."""
        state = (state_dir or Settings().state_dir).resolve()
        saved = state / "stack.json"
        env: dict[str, str] = {"LAB_STATE_DIR": str(state)}
        if saved.exists():
            env.update(json.loads(saved.read_text()).get("env", {}))
        env["LAB_STATE_DIR"] = str(state)
        return cls(env=env, recorded=saved.exists())

    def environ(self) -> dict[str, str]:
        """The process environment under the stack's own settings."""
        outer = recorded.outside(os.environ) if self.recorded else dict(os.environ)
        return {**outer, **self.env}

    def record(self) -> None:
        """Fix every setting that identifies the stack, from a flag or the environment alike."""
        self.env.update(recorded.record(self.settings, self.environ()))
        self.recorded = True

    def check_given(self, environ: Mapping[str, str]) -> None:
        """Raise StackError if the environment gives an identifying setting the stack has not."""
        if not self.recorded:
            return
        wanted = recorded.given(environ)
        wanted.pop("LAB_STATE_DIR", None)  # it chose this stack
        try:
            recorded.check(self.settings, wanted, str(self.state_dir))
        except recorded.Disagreement as exc:
            raise StackError(str(exc)) from exc

    def running(self) -> list[str]:
        """The processes of this stack that are running."""
        return [p.name for p in self.specs() if self.pid(p.name)]

    @property
    def settings(self) -> Settings:
        merged = self.environ()
        keys = {
            k.lower(): v
            for k, v in merged.items()
            if k.startswith(("LAB_", "VALKEY_")) or k.endswith("_DATABASE_URL")
        }
        return Settings(**keys)  # type: ignore[arg-type]

    @property
    def state_dir(self) -> Path:
        return self.settings.state_dir

    def save(self) -> None:
        """Record the stack's settings so that `start NAME` and `mode` reuse them (database URLs
        and tokens included: the file is owner-only, like the state dir)."""
        private_dir(self.state_dir)
        write_private(self.state_dir / "stack.json", json.dumps({"env": self.env}, indent=2))

    def specs(self) -> list[ProcSpec]:
        """Every process, in start order."""
        s = self.settings
        procs = []
        if s.valkey_url:
            pass  # an external Valkey: nothing embedded starts
        elif s.lab_valkey is Topology.CLUSTER:
            for k, port in enumerate(valkey_cluster.node_ports(s.valkey_port), start=1):
                procs.append(ProcSpec(replica_name("valkey", k), port, "valkey"))
        else:
            procs.append(ProcSpec("valkey", s.valkey_port, "valkey"))
        procs.extend(
            ProcSpec(replica_name("auth", k), s.service_port("auth", k), "http")
            for k in range(1, s.lab_auth_replicas + 1)
        )
        procs.extend(
            ProcSpec(replica_name(service, k), s.service_port(service, k), "http")
            for service in CONSUMER_SERVICES
            for k in range(1, s.lab_replicas + 1)
        )
        procs.append(ProcSpec("gateway", s.lab_gateway_port, "http"))
        procs.append(ProcSpec("dashboard", s.lab_dashboard_port, "http"))
        return procs

    def spec(self, name: str) -> ProcSpec:
        for spec in self.specs():
            if spec.name == name:
                return spec
        names = ", ".join(p.name for p in self.specs())
        raise StackError(f"no process named {name!r}; known: {names}")

    # -- files ----------------------------------------------------------

    def pid_file(self, name: str) -> Path:
        return self.state_dir / "run" / f"{name}.pid"

    def log_file(self, name: str) -> Path:
        """The process's console output (Valkey's whole log)."""
        return self.state_dir / "logs" / f"{name}.log"

    def json_log(self, name: str) -> Path:
        """The process's access and application lines."""
        return logs.log_path(self.state_dir / "logs", name)

    def pid(self, name: str) -> int | None:
        """The live pid of a process we started, or None (stale pid files are removed)."""
        path = self.pid_file(name)
        if not path.exists():
            return None
        try:
            info = json.loads(path.read_text())
            proc = psutil.Process(int(info["pid"]))
            if (
                abs(proc.create_time() - float(info["created"])) > 1.0
                or proc.status() == psutil.STATUS_ZOMBIE
            ):
                raise psutil.NoSuchProcess(int(info["pid"]))
            return int(info["pid"])
        except (psutil.NoSuchProcess, psutil.AccessDenied, ValueError, KeyError, OSError):
            path.unlink(missing_ok=True)
            return None

    # -- lifecycle ------------------------------------------------------

    def child_env(self) -> dict[str, str]:
        env = {**self.environ(), "PYTHONUNBUFFERED": "1"}
        env["LAB_STATE_DIR"] = str(self.state_dir)
        env["LAB_REPORTS_DIR"] = str(self.settings.reports_dir)  # relative to the command, not ROOT
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
        return env

    def start(self, name: str, progress: Progress | None = None, timeout: float = 30.0) -> int:
        """Start one process unless it runs already; wait until it is healthy; return its pid."""
        spec = self.spec(name)
        running = self.pid(name)
        if running:
            self.wait_healthy(spec, timeout)
            return running
        if port_in_use(spec.port, self.settings.lab_bind_host):
            holder = port_holder(spec.port) or "another program"
            raise StackError(
                f"port {spec.port} for {name} is taken by {holder}; "
                f"set {port_setting(name)} to move {name} to a free port"
            )
        log = self.log_file(name)
        if spec.kind == "valkey":
            proc = spawn(self.valkey_config(spec), log)
        else:
            with open_private_log(log) as out:
                proc = subprocess.Popen(
                    [sys.executable, "-m", "lab.serve", name],
                    cwd=ROOT,
                    env=self.child_env(),
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,
                    umask=UMASK,  # its databases, keys and their -wal/-shm files: owner-only
                )
        created = psutil.Process(proc.pid).create_time()
        write_private(
            self.pid_file(name),
            json.dumps({"pid": proc.pid, "port": spec.port, "created": created}),
        )
        if progress:
            progress(f"started {name} (pid {proc.pid}, port {spec.port})")
        try:
            self.wait_healthy(spec, timeout, proc)
        except StackError:
            self.stop(name)
            raise
        return proc.pid

    def valkey_config(self, spec: ProcSpec) -> ValkeyConfig:
        """One embedded Valkey node with the ACL users; a cluster node in its own dir."""
        s = self.settings
        config = ValkeyConfig(
            port=spec.port,
            data_dir=self.state_dir / "valkey",
            host=s.lab_bind_host,
            appendfsync=s.valkey_appendfsync,
            pubsub_buffer_limit=s.valkey_pubsub_buffer_limit,
            acl=acl.acl_file({user: s.valkey_password(user) for user in acl.users()}),
        )
        if s.lab_valkey is Topology.CLUSTER:
            config.data_dir = config.data_dir / str(spec.port)
            config.extra = valkey_cluster.node_settings(s.lab_cluster_node_timeout)
            config.secrets = valkey_cluster.replication_conf(
                acl.ADMIN, s.valkey_password(acl.ADMIN)
            )
        return config

    def embedded_cluster(self) -> valkey_cluster.EmbeddedCluster | None:
        """The embedded cluster's nodes as the admin user, or None in any other topology."""
        s = self.settings
        if s.valkey_url or s.lab_valkey is not Topology.CLUSTER:
            return None
        return valkey_cluster.EmbeddedCluster(
            [s.valkey_node_url(acl.ADMIN, p.port) for p in self.specs() if p.kind == "valkey"]
        )

    def wait_healthy(
        self, spec: ProcSpec, timeout: float, proc: subprocess.Popen[bytes] | None = None
    ) -> None:
        """Poll the process's health check until it answers or the deadline passes."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc is not None and proc.poll() is not None:
                raise StackError(
                    f"{spec.name} exited with code {proc.returncode}: "
                    f"{self.last_log_line(spec.name)}"
                )
            if self.healthy(spec):
                return
            time.sleep(0.05)
        raise StackError(
            f"{spec.name} did not become healthy within {timeout:.0f}s: "
            f"{self.last_log_line(spec.name)}"
        )

    def healthy(self, spec: ProcSpec) -> bool:
        """One health probe: PING for Valkey, GET /health for the rest."""
        host = self.settings.lab_host
        try:
            if spec.kind == "valkey":
                with valkey.Valkey.from_url(
                    self.settings.valkey_node_url(acl.ADMIN, spec.port),
                    socket_timeout=0.5,
                    socket_connect_timeout=0.5,
                ) as client:
                    return bool(client.ping())
            response = httpx.get(f"http://{host}:{spec.port}/health", timeout=0.5)
            return response.status_code == 200
        except (valkey.ValkeyError, httpx.HTTPError, OSError):
            return False

    def last_log_line(self, name: str) -> str:
        path = self.log_file(name)
        if not path.exists():
            return "no log"
        lines = [ln for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
        return lines[-1][:300] if lines else "empty log"

    def stop(self, name: str, timeout: float = 10.0, kill: bool = False) -> bool:
        """Stop one process (SIGTERM, then SIGKILL); True if it was running."""
        self.spec(name)
        return self._terminate(name, timeout, kill)

    def _terminate(self, name: str, timeout: float = 10.0, kill: bool = False) -> bool:
        """Signal the process group behind a pid file, SIGKILL it if it outlives the timeout."""
        pid = self.pid(name)
        if pid is None:
            return False
        sig = signal.SIGKILL if kill else signal.SIGTERM
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            pass
        except PermissionError:
            os.kill(pid, sig)
        if not wait_exited(pid, timeout):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
            wait_exited(pid, 5)
        self.pid_file(name).unlink(missing_ok=True)
        return True

    def up(self, progress: Progress | None = None) -> None:
        """Start every process in order and return once all are healthy; if one fails, stop
        the processes this call started (those that ran before it keep running)."""
        check_auth_replicas(self.settings)
        loosened = tighten(self.state_dir)  # files an older version left readable to others
        if loosened and progress:
            progress(f"made {len(loosened)} file(s) in the state dir owner-only")
        self.record()
        self.save()
        self.settings.internal_token()  # generated once here, before processes race for it
        specs = self.specs()
        started: list[str] = []

        def start(name: str) -> None:
            was_running = self.pid(name) is not None
            self.start(name, progress)
            if not was_running:
                started.append(name)

        try:
            for spec in specs:
                if spec.kind == "valkey":
                    start(spec.name)
            cluster = self.embedded_cluster()
            if cluster is not None:
                try:
                    cluster.ensure()
                except (valkey_cluster.ClusterError, valkey.ValkeyError, OSError) as exc:
                    raise StackError(str(exc)) from exc
                if progress:
                    progress("valkey cluster ready: every replica linked to its primary")
            for spec in specs:
                if spec.kind != "valkey":
                    start(spec.name)
        except BaseException:
            for name in reversed(started):
                if self._terminate(name) and progress:
                    progress(f"stopped {name}: start-up did not complete")
            raise

    def down(self, progress: Progress | None = None) -> list[str]:
        """Stop every process, in reverse order, including any left from a larger --replicas."""
        stopped = []
        names = [p.name for p in self.specs()]
        run_dir = self.state_dir / "run"
        extra = (
            [p.stem for p in run_dir.glob("*.pid") if p.stem not in names]
            if run_dir.exists()
            else []
        )
        for name in list(reversed(names)) + extra:
            # a process left from a larger --replicas has no spec any more: stop it by pid file
            if self._terminate(name):
                stopped.append(name)
                if progress and name not in extra:
                    progress(f"stopped {name}")
        return stopped

    # -- introspection and control --------------------------------------

    def client(self) -> LabClient:
        """A client of this stack's gateway and /internal endpoints."""
        return LabClient(self.settings)

    def status(self) -> list[dict[str, Any]]:
        """Each process's pid, port, health and, for services, mode and backlog."""
        rows = []
        for spec in self.specs():
            pid = self.pid(spec.name)
            row: dict[str, Any] = {
                "name": spec.name,
                "pid": pid,
                "port": spec.port,
                "healthy": bool(pid) and self.healthy(spec),
            }
            if row["healthy"] and spec.kind == "http" and spec.name not in FRONTS:
                try:
                    st = self.client().internal(spec.port, "GET", "status", timeout=2.0)
                except (httpx.HTTPError, ValueError):  # not answering, or not with JSON
                    st = {}
                for key in (
                    "mode",
                    "publish",
                    "subscriber",
                    "outbox_pending",
                    "stream_lag",
                    "known_users",
                    "events_lost",
                ):
                    if key in st:
                        row[key] = st[key]
            rows.append(row)
        return rows

    def set_mode(self, mode: Mode, publish: Publish | None) -> list[dict[str, Any]]:
        """Switch every running service without a restart, and record the new mode."""
        self.env["LAB_MODE"] = mode.value
        if publish is not None:
            self.env["LAB_PUBLISH"] = publish.value
        else:
            self.env.pop("LAB_PUBLISH", None)
        self.save()
        body = {"mode": mode.value, "publish": publish.value if publish else None}
        results = []
        for spec in self.specs():
            if spec.kind != "http" or spec.name in FRONTS:
                continue
            if not self.pid(spec.name):
                results.append({"name": spec.name, "mode": None, "note": "not running"})
                continue
            st = self.client().internal(spec.port, "PUT", "mode", body)
            results.append(
                {
                    "name": spec.name,
                    "mode": st.get("mode"),
                    "publish": st.get("publish"),
                    "subscriber": st.get("subscriber"),
                }
            )
        return results


def check_auth_replicas(settings: Settings) -> None:
    """More than one auth process needs PostgreSQL: they share the users table and claim outbox
    rows with row locks, which SQLite has not (one writer, no SELECT ... FOR UPDATE)."""
    if settings.lab_auth_replicas > 1 and not settings.database_url("auth").startswith("postgres"):
        raise StackError(
            f"{settings.lab_auth_replicas} auth processes need PostgreSQL: use --db postgres "
            "(or AUTH_DATABASE_URL=postgresql://...); with SQLite, auth runs as one process"
        )


def wait_exited(pid: int, timeout: float) -> bool:
    """True once pid has exited. A process started by another one (the dashboard stopping what
    `up` started) stays a zombie until that parent reaps it, so a zombie counts as exited."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            proc = psutil.Process(pid)
            if proc.ppid() == os.getpid():
                proc.wait(max(0.0, deadline - time.monotonic()))  # our child: reap it
                return True
            if proc.status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        except psutil.TimeoutExpired:
            return False
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
