"""A private PostgreSQL cluster made with initdb/pg_ctl under a temp dir, on a free port, so a
fault can restart it without touching any shared server."""

from __future__ import annotations

import contextlib
import glob
import os
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

from lab.net import free_port


def pg_bin_dir() -> Path | None:
    """The newest /usr/lib/postgresql/*/bin that has initdb and pg_ctl, or None."""
    found = sorted(
        (Path(p).parent for p in glob.glob("/usr/lib/postgresql/*/bin/initdb")),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    return next((d for d in reversed(found) if (d / "pg_ctl").exists()), None)


@dataclass
class PrivatePostgres:
    """One throwaway cluster: trust auth, listening on 127.0.0.1 only."""

    root: Path
    bin_dir: Path
    port: int = 0
    user: str = "lab"

    @property
    def data(self) -> Path:
        return self.root / "data"

    def url(self, database: str) -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{database}"

    def _cmd(self, *args: str) -> list[str]:
        # PostgreSQL refuses to run as root: run as the owner of the data dir, "nobody" if root.
        cmd = [str(self.bin_dir / args[0]), *args[1:]]
        return ["runuser", "-u", "nobody", "--", *cmd] if os.geteuid() == 0 else cmd

    def _run(self, *args: str) -> None:
        done = subprocess.run(
            self._cmd(*args), capture_output=True, text=True, timeout=120, check=False
        )
        if done.returncode:
            raise RuntimeError(f"{args[0]} failed: {(done.stderr or done.stdout).strip()[-300:]}")

    def init(self) -> None:
        """initdb, owned by whoever will run the server."""
        self.port = self.port or free_port()
        self.root.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:  # the server user must reach and write its own dir
            os.chmod(self.root.parent, 0o711)  # noqa: S103 - traverse only
            os.chmod(self.root, 0o777)  # noqa: S103 - a throwaway dir under a private parent
        self._run("initdb", "-D", str(self.data), "-U", self.user, "-A", "trust", "--no-sync")

    def start(self) -> None:
        opts = f"-p {self.port} -k {self.root} -h 127.0.0.1 -c fsync=off"
        self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-l",
            str(self.root / "pg.log"),
            "-o",
            opts,
            "-w",
            "start",
        )

    def stop(self) -> None:
        """Stop fast: open connections are cut, as when a database server goes away."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def running(self) -> bool:
        result = subprocess.run(
            self._cmd("pg_ctl", "-D", str(self.data), "status"), capture_output=True, check=False
        )
        return result.returncode == 0

    def discard(self) -> None:
        """Stop the server for good, whichever postmaster holds the data dir now (a restart
        gives it a new pid): `pg_ctl stop -m immediate`, then SIGKILL to the pid in
        postmaster.pid if it is still there."""
        pid_file = self.data / "postmaster.pid"
        if not pid_file.exists():
            return
        with contextlib.suppress(subprocess.TimeoutExpired):
            subprocess.run(
                self._cmd("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop"),
                capture_output=True,
                timeout=60,
                check=False,
            )
        with contextlib.suppress(FileNotFoundError, ValueError, IndexError, ProcessLookupError):
            os.kill(int(pid_file.read_text().splitlines()[0]), signal.SIGKILL)
