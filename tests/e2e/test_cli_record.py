"""A stack started from the environment is remembered: later commands use what `up` ran with."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from pathlib import Path

import jwt
import pytest
from typer.testing import CliRunner, Result

import cli
from lab.isolated import isolated_env
from lab.processes import Stack

runner = CliRunner()
PASSWORD = "correct horse battery"


def invoke(env: dict[str, str | None], *args: str) -> Result:
    return runner.invoke(cli.app, list(args), env=env, prog_name=cli.PROG)


@pytest.fixture(scope="module")
def started(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """`up` with every port and the state dir from the environment, the issuer left to follow."""
    state = tmp_path_factory.mktemp("record") / "state"
    given: dict[str, str | None] = {**isolated_env(state), "LAB_ISSUER": None}
    try:
        result = invoke(given, "up")
        assert result.exit_code == 0, (result.stdout, result.stderr)
        yield {k: v for k, v in given.items() if v is not None} | {"stdout": result.stdout}
    finally:
        Stack.load(state).down()


def only_state(started: dict[str, str]) -> dict[str, str | None]:
    """What a later shell has: the state dir and none of the other settings `up` had."""
    return {"LAB_STATE_DIR": started["LAB_STATE_DIR"]}


def ok(result: Result) -> Result:
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return result


def rows(result: Result) -> dict[str, dict[str, object]]:
    return {r["name"]: r for r in json.loads(result.stdout)["processes"]}


def test_up_prints_the_addresses_and_says_when_it_is_already_running(
    started: dict[str, str],
) -> None:
    gateway = f"http://127.0.0.1:{started['LAB_GATEWAY_PORT']}"
    dashboard = f"http://127.0.0.1:{started['LAB_DASHBOARD_PORT']}"
    first = started["stdout"]
    assert "up in" in first and gateway in first and dashboard in first
    assert "publish none" in first  # lazy mode publishes nothing, as status says
    again = ok(invoke(only_state(started), "up")).stdout
    assert "already running" in again and "up in" not in again
    assert gateway in again and dashboard in again and "publish none" in again


def test_status_call_stop_and_start_use_the_ports_up_ran_with(started: dict[str, str]) -> None:
    env = only_state(started)
    status = rows(ok(invoke(env, "status", "--json")))
    assert status["gateway"]["port"] == int(started["LAB_GATEWAY_PORT"])
    assert status["auth"]["publish"] == "none"
    name = f"rec-{secrets.token_hex(4)}"
    ok(invoke(env, "register", name, "--password", PASSWORD))
    ok(invoke(env, "login", name, "--password", PASSWORD))
    called = json.loads(ok(invoke(env, "call", "profiles", "/whoami", "--json")).stdout)
    assert called["status"] == 200 and called["body"]["discovered_by"] == "lazy"
    ok(invoke(env, "stop", "gateway"))
    ok(invoke(env, "start", "gateway"))
    status = rows(ok(invoke(env, "status", "--json")))
    assert status["gateway"]["port"] == int(started["LAB_GATEWAY_PORT"])
    assert status["gateway"]["healthy"] is True


def test_the_issuer_follows_the_gateway(started: dict[str, str]) -> None:
    env = only_state(started)
    name = f"iss-{secrets.token_hex(4)}"
    ok(invoke(env, "register", name, "--password", PASSWORD))
    token = ok(invoke(env, "login", name, "--password", PASSWORD)).stdout.strip()
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["iss"] == f"http://127.0.0.1:{started['LAB_GATEWAY_PORT']}/auth"


def test_a_setting_that_disagrees_with_the_running_stack_is_refused(
    started: dict[str, str],
) -> None:
    port = started["LAB_GATEWAY_PORT"]
    moved = str(int(port) + 1)
    for args in (["status"], ["up"], ["call", "profiles", "/whoami"]):
        refused = invoke({**only_state(started), "LAB_GATEWAY_PORT": moved}, *args)
        assert refused.exit_code == 1, (args, refused.stdout)
        line = refused.stderr.strip()
        assert "\n" not in line and "LAB_GATEWAY_PORT" in line
        assert f"is {port} in the stack" in line and f"but {moved} is given" in line
    replicas = invoke(only_state(started), "up", "--replicas", "2")
    assert replicas.exit_code == 1 and "LAB_REPLICAS is 1" in replicas.stderr
    same = invoke({**only_state(started), "LAB_GATEWAY_PORT": port}, "status")
    assert same.exit_code == 0, same.stderr


def test_the_mode_is_read_from_the_stack_not_the_environment(started: dict[str, str]) -> None:
    env = {**only_state(started), "LAB_MODE": "streams", "LAB_PUBLISH": "outbox"}
    ok(invoke(env, "stop", "profiles"))
    ok(invoke(env, "start", "profiles"))
    status = rows(ok(invoke(env, "status", "--json")))
    assert status["profiles"]["mode"] == "lazy" and status["auth"]["mode"] == "lazy"
    ok(invoke(env, "mode", "pubsub"))
    try:
        ok(invoke(only_state(started), "stop", "notifications"))
        ok(invoke(only_state(started), "start", "notifications"))
        status = rows(ok(invoke(env, "status", "--json")))
        assert status["notifications"]["mode"] == "pubsub"
        assert status["auth"]["publish"] == "direct"
    finally:
        ok(invoke(only_state(started), "mode", "lazy"))


def test_call_verbose_shows_the_status_line_and_server_timing(started: dict[str, str]) -> None:
    env = only_state(started)
    name = f"vrb-{secrets.token_hex(4)}"
    ok(invoke(env, "register", name, "--password", PASSWORD))
    ok(invoke(env, "login", name, "--password", PASSWORD))
    shown = ok(invoke(env, "call", "profiles", "/whoami", "-v")).stdout
    assert "GET /profiles/whoami" in shown and "HTTP/1.1 200 OK" in shown
    assert "server-timing: " in shown.lower()
    assert '"user_id"' in shown  # the body follows the headers


def test_stack_json_records_what_up_was_given(started: dict[str, str]) -> None:
    recorded = json.loads((Path(started["LAB_STATE_DIR"]) / "stack.json").read_text())["env"]
    assert recorded["LAB_GATEWAY_PORT"] == started["LAB_GATEWAY_PORT"]
    assert recorded["VALKEY_PORT"] == started["VALKEY_PORT"]
    assert "LAB_ISSUER" not in recorded  # left to follow the gateway
