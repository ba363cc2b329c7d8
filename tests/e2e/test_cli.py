"""The command line against a real stack: JSON on stdout for scripts, exit codes for faults."""

from __future__ import annotations

import json
import secrets
from typing import Any

import jwt
import pytest
from typer.testing import CliRunner, Result

import cli
from common.settings import Mode
from lab.processes import Stack
from tests.e2e.client import client
from tests.e2e.test_event_modes import CONSUMERS, switch
from tests.support import wait_for

runner = CliRunner()
PASSWORD = "correct horse battery"


@pytest.fixture
def env(lazy_stack: Stack) -> dict[str, str]:
    """The environment a user of this stack's state dir would have."""
    return {"LAB_STATE_DIR": str(lazy_stack.state_dir)}


def invoke(env: dict[str, str], *args: str, stdin: str | None = None) -> Result:
    return runner.invoke(cli.app, list(args), env=env, input=stdin, prog_name=cli.PROG)


def data(result: Result) -> Any:
    """The command's stdout, which must be JSON and nothing else."""
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return json.loads(result.stdout)


def test_a_script_registers_logs_in_and_calls_with_json(env: dict[str, str]) -> None:
    name = f"cli-{secrets.token_hex(4)}"
    registered = data(invoke(env, "register", name, "--password", "-", "--json", stdin=PASSWORD))
    assert registered["status"] == 201 and isinstance(registered["body"]["user_id"], int)
    taken = invoke(env, "register", name, "--password", PASSWORD, "--json")
    assert taken.exit_code == 1
    assert json.loads(taken.stdout)["body"]["error"] == "username_taken"

    logged_in = invoke(env, "login", name, "--password", "-", "--json", stdin=f"{PASSWORD}\n")
    login = data(logged_in)
    assert login["body"]["token"] and login["body"]["token_type"] == "bearer"
    assert "saved to" in logged_in.stderr
    call = data(invoke(env, "call", "profiles", "/whoami", "--json"))
    assert call["status"] == 200
    assert call["body"]["user_id"] == registered["body"]["user_id"]
    assert call["body"]["discovered_by"] == "lazy"

    wrong = invoke(env, "login", name, "--password", "wrong password", "--json")
    assert wrong.exit_code == 1
    assert json.loads(wrong.stdout)["body"]["error"] == "invalid_credentials"


def test_up_mode_and_keys_list_print_json(env: dict[str, str]) -> None:
    started = data(invoke(env, "up", "--json"))
    assert started["mode"] == "lazy" and all(p["healthy"] for p in started["processes"])
    switched = data(invoke(env, "mode", "lazy", "--json"))
    services = {p["name"]: p for p in switched["processes"]}
    assert set(services) == {"auth", "profiles", "notifications"}
    assert all(p["mode"] == "lazy" for p in services.values())
    keys = data(invoke(env, "keys", "list", "--json"))["keys"]
    assert [k["state"] for k in keys].count("active") == 1 and keys[0]["kid"]


def test_status_fails_while_a_process_is_down_and_stop_refuses_twice(
    env: dict[str, str], lazy_stack: Stack
) -> None:
    assert data(invoke(env, "status", "--json"))["processes"]
    assert invoke(env, "stop", "notifications").exit_code == 0
    try:
        down = invoke(env, "status", "--json")
        assert down.exit_code == 1
        rows = {r["name"]: r for r in json.loads(down.stdout)["processes"]}
        assert rows["notifications"]["healthy"] is False and rows["auth"]["healthy"] is True
        again = invoke(env, "stop", "notifications")
        assert again.exit_code == 1 and "notifications is not running" in again.stderr
    finally:
        lazy_stack.start("notifications")
    assert invoke(env, "status").exit_code == 0


def test_a_failed_up_stops_what_it_started(stack_factory: Any) -> None:
    import socket

    import psutil

    from lab.processes import StackError

    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        taken = str(holder.getsockname()[1])
        stack: Stack = stack_factory(start=False, LAB_GATEWAY_PORT=taken)
        lines: list[str] = []
        with pytest.raises(StackError, match=f"port {taken} for gateway is taken"):
            stack.up(lines.append)
    started = {
        line.split()[1]: int(line.split("(pid ")[1].split(",")[0])
        for line in lines
        if line.startswith("started ")
    }
    assert {"valkey", "auth"} <= set(started)  # it got that far before the gateway
    assert {f"stopped {name}: start-up did not complete" for name in started} <= set(lines)
    assert list((stack.state_dir / "run").glob("*.pid")) == []
    alive = [
        pid
        for pid in started.values()
        if psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    ]
    assert alive == []


def _registered(env: dict[str, str]) -> str:
    name = f"cli-{secrets.token_hex(4)}"
    assert data(invoke(env, "register", name, "--password", PASSWORD, "--json"))["status"] == 201
    return name


def test_the_operator_changes_a_plan_and_every_consumer_learns_it(
    env: dict[str, str], lazy_stack: Stack
) -> None:
    switch(lazy_stack, Mode.STREAMS)
    try:
        name = _registered(env)
        held = client(lazy_stack).token(name)
        for service in CONSUMERS:
            wait_for(
                lambda s=service: client(lazy_stack).whoami(s, held).status == 200,
                what=f"{service} to know {name}",
            )
        changed = data(invoke(env, "plan", name.upper(), "pro", "--json"))
        assert changed["username"] == name and changed["version"] == 2
        assert changed["attributes"] == {"display_name": None, "email": None, "plan": "pro"}
        for service in CONSUMERS:  # the token held from before, updated by user.updated
            wait_for(
                lambda s=service: (
                    client(lazy_stack).whoami(s, held).body["attributes"]["plan"] == "pro"
                ),
                what=f"{service} to serve the new plan",
            )
        claims = jwt.decode(client(lazy_stack).token(name), options={"verify_signature": False})
        assert (claims["plan"], claims["attributes_version"]) == ("pro", 2)
        text = invoke(env, "plan", name, "free")
        assert text.exit_code == 0, (text.stdout, text.stderr)
        assert f"{name} (user {changed['user_id']}): " in text.stdout
        assert "plan free; version 3" in text.stdout
    finally:
        switch(lazy_stack, Mode.LAZY)


def test_plan_fails_in_one_line_for_what_it_cannot_change(
    env: dict[str, str], lazy_stack: Stack
) -> None:
    name = _registered(env)
    cases = {
        ("nobody-here", "pro"): "no user named 'nobody-here'",
        (name, "gold"): "plan 'gold' refused: Input should be 'free' or 'pro'",
        ("bad\x01name", "pro"): "a username has no control or format characters",
    }
    for args, reason in cases.items():
        result = invoke(env, "plan", *args, "--json")
        assert result.exit_code == 1, (args, result.stdout)
        assert reason in result.stderr and result.stderr.count("\n") == 1, result.stderr
        assert result.stdout == ""
    assert invoke(env, "deactivate", name, "--password", PASSWORD).exit_code == 0
    gone = invoke(env, "plan", name, "pro")
    assert gone.exit_code == 1 and f"{name!r} is deactivated" in gone.stderr
    lazy_stack.stop("auth")
    try:
        down = invoke(env, "plan", name, "pro")
        assert down.exit_code == 1
        assert "cannot reach auth" in down.stderr and "is the stack up?" in down.stderr
    finally:
        lazy_stack.start("auth")
