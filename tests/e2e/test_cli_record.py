"""A stack started from the environment is remembered: later commands use what `up` ran with."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from typer.testing import CliRunner, Result

import cli
from lab.isolated import isolated_env
from lab.processes import Stack
from tests.support import wait_for

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


def _log_lines(env: dict[str, str | None], name: str) -> list[dict[str, object]]:
    shown = ok(invoke(env, "logs", name, "--json", "-n", "500")).stdout
    return [json.loads(line) for line in shown.splitlines() if line.startswith("{")]


def test_logs_show_the_request_id_the_gateway_passed_and_never_a_secret(
    started: dict[str, str],
) -> None:
    env = only_state(started)
    gateway = f"http://127.0.0.1:{started['LAB_GATEWAY_PORT']}"
    name = f"log-{secrets.token_hex(4)}"
    password = f"pw-{secrets.token_hex(8)}"
    ok(invoke(env, "register", name, "--password", password))
    token = ok(invoke(env, "login", name, "--password", password)).stdout.strip()
    ok(invoke(env, "call", "profiles", f"/whoami?access_token={token}"))
    mine = f"req-{secrets.token_hex(6)}"
    login = {"username": name, "password": password}
    chosen = httpx.post(f"{gateway}/auth/login", json=login, headers={"X-Request-Id": mine})
    assert chosen.status_code == 200 and chosen.headers["x-request-id"] == mine
    bad = httpx.post(f"{gateway}/auth/login", json=login, headers={"X-Request-Id": "a b;c"})
    made = bad.headers["x-request-id"]
    assert made != "a b;c" and len(made) == 16

    def access(request_id: str) -> list[dict[str, object]]:
        return [
            line
            for line in _log_lines(env, "auth")
            if line["kind"] == "access" and line["request_id"] == request_id
        ]

    for request_id in (mine, made):
        [line] = wait_for(lambda r=request_id: access(r), what=f"auth's line for {request_id}")
        assert (line["method"], line["path"], line["status"]) == ("POST", "/login", 200)
        assert line["process"] == "auth" and isinstance(line["ms"], float)
    assert any(line["request_id"] == mine for line in _log_lines(env, "gateway"))
    readable = ok(invoke(env, "logs", "auth", "-n", "500")).stdout
    assert f"{mine} POST /login 200" in readable
    logs = Path(started["LAB_STATE_DIR"]) / "logs"
    for path in logs.iterdir():
        text = path.read_text(errors="replace")
        assert password not in text, path
        assert token not in text and token.split(".")[2] not in text, path
    assert "/whoami" in (logs / "profiles.jsonl").read_text()


def test_a_process_log_rotates_at_its_size_cap(stack_factory: Any) -> None:
    stack: Stack = stack_factory(start=False, LAB_LOG_MAX_BYTES="2000", LAB_LOG_BACKUPS="2")
    stack.start("gateway")
    url = f"http://127.0.0.1:{stack.settings.lab_gateway_port}/health"
    with httpx.Client() as client:
        for _ in range(60):
            assert client.get(url).status_code == 200
    log = stack.json_log("gateway")
    wait_for(lambda: log.with_name(f"{log.name}.2").exists(), what="two rotated files")
    assert not log.with_name(f"{log.name}.3").exists()  # two backups kept, no more
    for path in (log, log.with_name(f"{log.name}.1"), log.with_name(f"{log.name}.2")):
        assert path.stat().st_size < 2000 + 400  # the cap and at most the line that crossed it
        assert path.stat().st_mode & 0o077 == 0
    stack.stop("gateway")
