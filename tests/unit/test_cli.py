"""The command line in-process, without a running stack: options, validation, exit codes."""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.core import TyperGroup
from typer.testing import CliRunner, Result

import cli
from lab.isolated import isolated_env

runner = CliRunner()


@pytest.fixture
def state_env(tmp_path: Path) -> dict[str, str]:
    """Settings for a stack that is not running, in its own state dir on free ports."""
    return isolated_env(tmp_path / "state")


def invoke(args: list[str], env: dict[str, str] | None = None, stdin: str | None = None) -> Result:
    return runner.invoke(cli.app, args, env=env, input=stdin, prog_name=cli.PROG)


def _commands(group: TyperGroup, prefix: str = "") -> Iterator[tuple[str, Any]]:
    for name, command in group.commands.items():
        if isinstance(command, TyperGroup):
            yield from _commands(command, f"{prefix}{name} ")
        else:
            yield f"{prefix}{name}", command


COMMANDS = dict(_commands(typer.main.get_group(cli.app)))


def test_version_names_the_installed_version() -> None:
    result = runner.invoke(cli.app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout.strip() == f"discovery-lab {version('discovery-lab')}"


def test_completion_is_offered() -> None:
    result = runner.invoke(cli.app, ["--help"])
    assert "--install-completion" in result.stdout and "--show-completion" in result.stdout


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_argument_and_option_has_help(name: str) -> None:
    for param in COMMANDS[name].params:
        if param.name == "help":
            continue
        assert getattr(param, "help", None), f"{name}: {param.name} has no help text"


def test_a_short_flag_means_one_thing_everywhere() -> None:
    meanings: dict[str, set[str]] = {}
    for command in COMMANDS.values():
        for param in command.params:
            opts = getattr(param, "opts", [])
            longs = tuple(o for o in opts if o.startswith("--"))
            for short in (o for o in opts if not o.startswith("--")):
                meanings.setdefault(short, set()).add(longs[0] if longs else param.name or "")
    assert {"-n", "-c", "-f", "-y"} <= set(meanings)
    for short, names in meanings.items():
        assert len(names) == 1, f"{short} means {sorted(names)}"


@pytest.mark.parametrize(
    "args",
    [
        ["up", "--db", "mysql"],
        ["up", "--mode", "gossip"],
        ["bench", "--modes", "lazy,gossip"],
        ["bench", "--modes", "lazy", "--modes", "gossip"],
        ["call", "billing", "/whoami"],
    ],
)
def test_bad_choices_are_refused_before_anything_runs(
    args: list[str], state_env: dict[str, str]
) -> None:
    result = invoke(args, state_env)
    assert result.exit_code == 2, result.output
    assert "Invalid value" in result.stderr
    assert not (Path(state_env["LAB_STATE_DIR"]) / "stack.json").exists()


def test_bench_modes_repeat_and_accept_the_comma_form() -> None:
    assert cli._modes(["lazy,streams", "hybrid", "lazy"]) == ["lazy", "streams", "hybrid"]
    assert cli._modes(None) is None
    with pytest.raises(typer.BadParameter, match="gossip"):
        cli._modes(["gossip"])


def test_reset_without_a_terminal_or_yes_refuses_and_keeps_the_state(
    state_env: dict[str, str],
) -> None:
    state = Path(state_env["LAB_STATE_DIR"])
    state.mkdir(parents=True)
    (state / "keep-me").write_text("users")
    result = invoke(["reset"], state_env)
    assert result.exit_code == 1
    assert "--yes" in result.stderr
    assert (state / "keep-me").read_text() == "users"
    result = invoke(["reset", "--yes"], state_env)
    assert result.exit_code == 0, result.output
    assert not state.exists()


def test_status_of_a_stack_that_is_down_prints_it_and_exits_non_zero(
    state_env: dict[str, str],
) -> None:
    result = invoke(["status", "--json"], state_env)
    assert result.exit_code == 1
    rows = json.loads(result.stdout)["processes"]
    assert {r["name"] for r in rows} >= {"valkey", "auth", "gateway", "profiles"}
    assert not any(r["healthy"] for r in rows)
    assert "not healthy" in result.stderr


def test_stop_of_a_process_that_is_not_running_says_so(state_env: dict[str, str]) -> None:
    result = invoke(["stop", "auth"], state_env)
    assert result.exit_code == 1
    assert "auth is not running" in result.stderr
    result = invoke(["stop", "billing"], state_env)
    assert result.exit_code == 1 and "known:" in result.stderr


def test_a_taken_port_names_its_holder_and_the_setting_that_moves_it(
    state_env: dict[str, str],
) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", int(state_env["VALKEY_PORT"])))
        holder.listen()
        result = invoke(["up"], state_env)
    assert result.exit_code == 1
    message = " ".join(result.stderr.split())
    assert f"port {state_env['VALKEY_PORT']} for valkey is taken by" in message
    assert f"(pid {os.getpid()})" in message and "set VALKEY_PORT" in message


def test_report_of_an_interrupted_run_says_what_it_holds(tmp_path: Path) -> None:
    partial = {"complete": False, "quick": True, "modes": ["lazy"], "codesize": {}}
    (tmp_path / "results.json").write_text(json.dumps(partial))
    result = invoke(["report", str(tmp_path)])
    assert result.exit_code == 1
    message = " ".join(result.stderr.split())
    assert "interrupted run (it holds: codesize)" in message
