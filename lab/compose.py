"""The files docker-compose.yml reads from a fresh clone: its .env secrets, the token encryption
key and Valkey's ACL file, generated once and kept."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from common.sealed import ensure_key
from common.settings import write_private
from events import acl

IMAGE_UID = 10001  # the image's user when the host's user is root (Dockerfile: ARG LAB_UID)
TOKENS = ("LAB_INTERNAL_TOKEN", "LAB_GATEWAY_PROXY_KEY")
ENV_HEADER = (
    "# Written by `discovery-lab compose-secrets`; read by `docker compose` from this folder.\n"
    "# Secrets: never commit this file (it is git-ignored).\n"
)


def password_variable(user: str) -> str:
    """The .env variable that holds a Valkey ACL user's password."""
    return f"VALKEY_{user.upper()}_PASSWORD"


@dataclass(frozen=True)
class ComposeFiles:
    """Where the files live, relative to the folder docker-compose.yml is in."""

    root: Path

    @property
    def env(self) -> Path:
        return self.root / ".env"

    @property
    def secrets_dir(self) -> Path:
        return self.root / "secrets"

    @property
    def token_key(self) -> Path:
        return self.secrets_dir / "token-encryption.pem"

    @property
    def valkey_acl(self) -> Path:
        return self.secrets_dir / "valkey-users.acl"


def read_env(path: Path) -> dict[str, str]:
    """A .env file's NAME=value lines (comments and blanks skipped)."""
    if not path.exists():
        return {}
    pairs = (
        line.split("=", 1)
        for line in path.read_text().splitlines()
        if "=" in line and not line.lstrip().startswith("#")
    )
    return {name.strip(): value.strip() for name, value in pairs}


def image_uid() -> int:
    """The uid the containers run as: the host user's, so that the 0600 secret files mounted
    into them stay readable, or the image's own user when the host user is root."""
    uid = os.getuid()
    return IMAGE_UID if uid == 0 else uid


def generate(root: Path) -> ComposeFiles:
    """Write whatever is missing; a secret already made is kept, so running it again changes
    nothing a running stack holds."""
    files = ComposeFiles(root)
    env = read_env(files.env)
    for name in (*TOKENS, *(password_variable(user) for user in acl.users())):
        env.setdefault(name, secrets.token_hex(32))
    uid = image_uid()
    env.setdefault("LAB_UID", str(uid))
    body = "".join(f"{name}={value}\n" for name, value in env.items())
    write_private(files.env, ENV_HEADER + body)
    ensure_key(files.token_key)
    if os.getuid() == 0:
        os.chown(files.token_key, int(env["LAB_UID"]), -1)
    passwords = {user: env[password_variable(user)] for user in acl.users()}
    # Digests only, so the Valkey container's own user may read it: 0644.
    files.valkey_acl.write_text(acl.acl_file(passwords))
    files.valkey_acl.chmod(0o644)
    return files
