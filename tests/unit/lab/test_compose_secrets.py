"""compose-secrets: what docker-compose.yml reads, generated once and kept."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

from typer.testing import CliRunner

from cli import app
from events import acl
from lab.compose import IMAGE_UID, generate, password_variable, read_env


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_every_file_is_written_with_its_mode(tmp_path: Path) -> None:
    files = generate(tmp_path)
    env = read_env(files.env)
    assert _mode(files.env) == 0o600 and _mode(files.token_key) == 0o600
    assert _mode(files.valkey_acl) == 0o644  # digests only: the Valkey container reads it
    assert files.token_key.read_text().startswith("-----BEGIN PRIVATE KEY-----")
    for name in ("LAB_INTERNAL_TOKEN", "LAB_GATEWAY_PROXY_KEY"):
        assert len(env[name]) == 64
    expected_uid = IMAGE_UID if os.getuid() == 0 else os.getuid()
    assert env["LAB_UID"] == str(expected_uid)
    assert files.token_key.stat().st_uid == expected_uid


def test_the_acl_file_is_the_embedded_stacks_with_the_env_passwords(tmp_path: Path) -> None:
    files = generate(tmp_path)
    env = read_env(files.env)
    text = files.valkey_acl.read_text()
    passwords = {user: env[password_variable(user)] for user in acl.users()}
    assert text == acl.acl_file(passwords)
    for password in passwords.values():
        assert password not in text
        assert hashlib.sha256(password.encode()).hexdigest() in text
    assert "user default reset" in text


def test_running_it_again_keeps_every_secret(tmp_path: Path) -> None:
    files = generate(tmp_path)
    before = (files.env.read_text(), files.token_key.read_bytes(), files.valkey_acl.read_text())
    generate(tmp_path)
    after = (files.env.read_text(), files.token_key.read_bytes(), files.valkey_acl.read_text())
    assert before == after


def test_the_command_needs_the_compose_file(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["compose-secrets", str(tmp_path)])
    assert result.exit_code == 1 and "no docker-compose.yml" in result.output
    assert not (tmp_path / ".env").exists()
    (tmp_path / "docker-compose.yml").write_text("services: {}\n")
    result = CliRunner().invoke(app, ["compose-secrets", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "secrets" / "valkey-users.acl").is_file()
