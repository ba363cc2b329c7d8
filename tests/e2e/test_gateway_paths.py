"""The gateway and the dashboard's pass-through over real sockets with raw request lines: no
spelling of a path reaches a service's /internal/*, non-canonical paths get a clear 400, and
what the gateway forwards is exactly what it checked."""

from __future__ import annotations

import json
import os
import socketserver
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest

from common.forwarded import check_proof
from common.settings import CONSUMER_SERVICES, Settings
from lab.net import free_port
from lab.processes import ROOT, Stack
from tests.support import raw_exchange, raw_request, wait_for

SERVICES = ("auth", *CONSUMER_SERVICES)

# Spellings that reach /internal/status if anything between the client and the service
# normalises the path; {s} is the service, {host} the gateway's host and port.
NOT_FOUND = [
    "/{s}/internal/status",
    "/{s}/internal",
    "/{s}/internal/",
    "/{s}/INTERNAL/status",
    "/{s}/Internal/status",
    "/{s}/internal;x=1/status",
    "/{s}/internal;/status",
    "/{s}/internal/status?x=1",
    "/{s}/internal/status;x",
    "http://{host}/{s}/internal/status",  # absolute form
    "http://evil.example/{s}/internal/status",
]
NON_CANONICAL = [
    "/{s}/x/../internal/status",
    "/{s}/whoami/../internal/status",
    "/{s}/./internal/status",
    "/{s}/internal/./status",
    "/{s}/..;/internal/status",
    "/{s}/x/%2e%2e/internal/status",
    "/{s}/x/%2E%2E/internal/status",
    "/{s}/x/.%2e/internal/status",
    "/{s}/%2e/internal/status",
    "/{s}/%2finternal/status",
    "/{s}%2finternal/status",
    "/{s}/x%2f..%2finternal/status",
    "/{s}/x%2F%2E%2E%2Finternal/status",
    "/{s}/%5cinternal/status",
    "/{s}/x%5c..%5cinternal/status",
    "/{s}/x\\..\\internal/status",
    "/{s}/%69nternal/status",
    "/{s}/%49NTERNAL/status",
    "/{s}/intern%61l/status",
    "/{s}/internal%2fstatus",
    "/{s}//internal/status",
    "//{s}/internal/status",
    "/{s}/internal//status",
    "/{s}/internal%00/status",
    "/{s}/%00/../internal/status",
    "/{s}/internal/status%00",
    "/{s}/internal%09/status",
    "/{s}/internal%0d%0aX-Internal-Token:%20x/status",
    "/{s}/internal\t/status",
    "/{s}/\tinternal/status",
    "/{s}/internal\x01/status",
    "/{s}/internal\x7f/status",
    "/{s}/intern\xc3\xa1l/status",
    "http://{host}/{s}/x/../internal/status",
    "http://{host}/{s}/%69nternal/status",
    "http://{host}//{s}/internal/status",
]
# Decoded once by the service, these name no internal path: forwarded, and not found there.
UPSTREAM_NOT_FOUND = ["/{s}/%2569nternal/status", "/{s}/%252e%252e/internal/status"]


def _target(template: str, service: str, host: str) -> bytes:
    return template.format(s=service, host=host).encode("latin-1")


@pytest.fixture
def stack(lazy_stack: Stack) -> Stack:
    return lazy_stack


def _gateway(stack: Stack) -> int:
    return stack.settings.lab_gateway_port


def _get(
    stack: Stack, target: bytes, method: bytes = b"GET", body: bytes = b""
) -> tuple[int, bytes]:
    headers = (b"Content-Type: application/json",) if body else ()
    return raw_exchange(_gateway(stack), raw_request(method, target, body, headers))


@pytest.mark.parametrize("service", SERVICES)
def test_no_spelling_of_an_internal_path_passes_the_gateway(stack: Stack, service: str) -> None:
    host = f"127.0.0.1:{_gateway(stack)}"
    answers: dict[bytes, tuple[int, bytes]] = {}
    for template in NOT_FOUND:
        target = _target(template, service, host)
        answers[target] = status, body = _get(stack, target)
        assert status == 404, (target, status, body)
        assert json.loads(body)["error"] == "not_found", (target, body)
    for template in NON_CANONICAL:
        target = _target(template, service, host)
        answers[target] = status, body = _get(stack, target)
        assert status == 400, (target, status, body)
        if body.startswith(b"{"):  # else uvicorn refused the request line itself
            assert json.loads(body)["error"] == "non_canonical_path", (target, body)
    for template in UPSTREAM_NOT_FOUND:
        target = _target(template, service, host)
        answers[target] = status, body = _get(stack, target)
        assert status == 404, (target, status, body)
    for method in (b"POST", b"PUT", b"DELETE", b"PATCH"):
        for template in ("/{s}/internal/mode", "/{s}/x/../internal/mode", "/{s}/%69nternal/mode"):
            target = _target(template, service, host)
            answers[method + b" " + target] = _get(stack, target, method, b'{"mode": "streams"}')
    refused = {k: v for k, v in answers.items() if v[0] not in (400, 404)}
    assert not refused


@pytest.mark.parametrize(
    "template",
    [
        "/auth/internal/mode",
        "/auth/x/../internal/mode",
        "/auth/./internal/mode",
        "/auth/%69nternal/mode",
        "/auth/%2e%2e/auth/internal/mode",
        "/auth/INTERNAL/mode",
        "/auth/internal;x/mode",
        "/auth//internal/mode",
        "/auth/x%2f..%2finternal/mode",
        "http://{host}/auth/x/../internal/mode",
        "http://{host}/auth/internal/mode",
    ],
)
def test_a_put_through_the_gateway_never_switches_auth(stack: Stack, template: str) -> None:
    target = _target(template, "auth", f"127.0.0.1:{_gateway(stack)}")
    body = b'{"mode": "streams", "publish": "outbox"}'
    status, answer = _get(stack, target, b"PUT", body)
    assert status in (400, 404), (status, answer)
    # Checked on auth's own port, with the internal token: the mode has not changed.
    own = httpx.get(
        f"http://127.0.0.1:{stack.settings.lab_auth_port}/internal/status",
        headers={"X-Internal-Token": stack.settings.internal_token()},
        timeout=10,
    )
    assert own.status_code == 200 and own.json()["mode"] == "lazy", own.text


def test_canonical_paths_still_work_through_the_gateway(stack: Stack) -> None:
    creds = json.dumps({"username": "raw-caller", "password": "raw request lines 1"}).encode()
    status, _ = _get(stack, b"/auth/register", b"POST", creds)
    assert status == 201
    status, answer = _get(stack, b"/auth/login", b"POST", creds)
    assert status == 200
    token = json.loads(answer)["token"]
    bearer = b"Authorization: Bearer " + token.encode()
    for service in CONSUMER_SERVICES:
        request = raw_request(b"GET", f"/{service}/whoami?x=1".encode(), headers=(bearer,))
        status, answer = raw_exchange(_gateway(stack), request)
        assert status == 200 and json.loads(answer)["service"] == service, answer
        # A trailing slash is canonical: forwarded, and the service answers as it will.
        request = raw_request(b"GET", f"/{service}/whoami/".encode(), headers=(bearer,))
        status, answer = raw_exchange(_gateway(stack), request)
        assert status != 400 and b"non_canonical_path" not in answer, (status, answer)
    for own in (b"/health", b"/openapi.json", b"/docs"):
        assert _get(stack, own)[0] == 200, own


def test_unknown_services_are_404(stack: Stack) -> None:
    for target in (b"/billing/whoami", b"/Auth/login", b"/auth%3b/login", b"/internal/status"):
        status, body = _get(stack, target)
        assert status == 404 and json.loads(body)["error"] == "unknown_service", target


@pytest.mark.parametrize(
    "target",
    [
        b"/gateway/auth/%00",
        b"/gateway/auth/x%0dX-Injected:%201",
        b"/gateway/auth/%1b[31m",
        b"/gateway/auth/\x01login",
        b"/gateway/auth/login\x7f",
        b"/gateway/auth/x/../internal/status",
        b"/gateway/auth/%69nternal/status",
        b"/gateway//auth/login",
        b"/gateway/auth/login?a=\x02",
    ],
)
def test_the_dashboard_pass_through_answers_a_bad_path_with_400(
    stack: Stack, target: bytes
) -> None:
    port = stack.settings.lab_dashboard_port
    status, body = raw_exchange(port, raw_request(b"GET", target))
    assert status == 400, (status, body)
    if body.startswith(b"{"):
        assert json.loads(body)["error"] == "non_canonical_path"


def test_an_encoded_line_feed_matches_no_dashboard_route(stack: Stack) -> None:
    # Starlette's path pattern stops at a decoded line feed, so the pass-through never sees it.
    port = stack.settings.lab_dashboard_port
    request = raw_request(b"GET", b"/gateway/auth/x%0d%0aX-Injected:%201")
    status, body = raw_exchange(port, request)
    assert status == 404 and json.loads(body)["success"] is False


def test_the_dashboard_pass_through_forwards_canonical_paths(stack: Stack) -> None:
    port = stack.settings.lab_dashboard_port
    status, body = raw_exchange(port, raw_request(b"GET", b"/gateway/auth/internal/status"))
    assert status == 404 and json.loads(body)["error"] == "not_found"
    status, body = raw_exchange(port, raw_request(b"GET", b"/gateway/auth/.well-known/jwks.json"))
    assert status == 200 and json.loads(body)["keys"]
    # A registration through the pass-through names its user in the dashboard's grid.
    creds = b'{"username": "via-dashboard", "password": "through the page 1"}'
    request = raw_request(
        b"POST", b"/gateway/auth/register", creds, (b"Content-Type: application/json",)
    )
    status, body = raw_exchange(port, request)
    assert status == 201, body
    state = httpx.get(
        f"http://127.0.0.1:{port}/api/state",
        headers={"X-Internal-Token": stack.settings.internal_token()},
        timeout=30,
    ).json()
    assert "via-dashboard" in {row["username"] for row in state["grid"]["rows"]}, state


@dataclass
class Recorder:
    """A raw HTTP upstream that records each request's line, headers and body."""

    port: int
    seen: list[tuple[bytes, dict[str, str], bytes]] = field(default_factory=list)


class _Record(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        line = self.rfile.readline().rstrip(b"\r\n")
        headers: dict[str, str] = {}
        while (header := self.rfile.readline()) not in (b"\r\n", b""):
            name, _, value = header.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        body = self.rfile.read(int(headers.get("content-length", "0")))
        self.server.recorder.seen.append((line, headers, body))  # type: ignore[attr-defined]
        answer = b'{"recorded": true}'
        self.wfile.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
            + b"Content-Length: "
            + str(len(answer)).encode()
            + b"\r\n\r\n"
            + answer
        )


@pytest.fixture(scope="module")
def recording_gateway(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[int, Recorder, Settings]]:
    """A gateway process whose every upstream is a recorder: (gateway port, recorder, the
    gateway's settings)."""
    tmp_path = tmp_path_factory.mktemp("recorded")
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Record)
    recorder = Recorder(server.server_address[1])
    server.recorder = recorder  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = free_port()
    upstream = f"http://127.0.0.1:{recorder.port}"
    env = {
        "PATH": os.environ["PATH"],
        "PYTHONPATH": str(ROOT),
        "LAB_STATE_DIR": str(tmp_path / "state"),
        "LAB_GATEWAY_PORT": str(port),
        "LAB_AUTH_URL": upstream,
        "LAB_PROFILES_URL": upstream,
        "LAB_NOTIFICATIONS_URL": upstream,
    }
    log = (tmp_path / "gateway.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "lab.serve", "gateway"],
        env=env,
        cwd=tmp_path,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for(
            lambda: httpx.get(f"http://127.0.0.1:{port}/health").status_code == 200,
            timeout=60,
            what="the gateway to answer",
        )
        yield port, recorder, Settings(lab_state_dir=tmp_path / "state")
    finally:
        proc.terminate()
        proc.wait(timeout=15)
        server.shutdown()
        server.server_close()


@pytest.fixture
def recorded(
    recording_gateway: tuple[int, Recorder, Settings],
) -> tuple[int, Recorder, Settings]:
    """The module's recording gateway, with nothing recorded yet."""
    recording_gateway[1].seen.clear()
    return recording_gateway


@pytest.mark.parametrize(
    ("sent", "received"),
    [
        (b"/auth/login", b"/login"),
        (b"/auth/login/", b"/login/"),
        (b"/auth/login?a=1&a=%20+b&c=%2e%2F", b"/login?a=1&a=%20+b&c=%2e%2F"),
        (b"/auth/x;y=1/z", b"/x;y=1/z"),
        (b"/auth/caf%C3%A9", b"/caf%C3%A9"),
        (b"/auth/%2569nternal", b"/%2569nternal"),
        (b"/auth/a%3Fb%23c", b"/a%3Fb%23c"),
        (b"/auth/login?", b"/login"),
        (b"/profiles/whoami", b"/whoami"),
        (b"http://127.0.0.1/auth/login", b"/login"),
    ],
)
def test_the_gateway_forwards_the_target_it_checked_byte_for_byte(
    recorded: tuple[int, Recorder, Settings], sent: bytes, received: bytes
) -> None:
    port, recorder, settings = recorded
    body = b'{"username": "alice"}'
    request = raw_request(
        b"POST",
        sent,
        body,
        (b"X-Forwarded-For: 192.0.2.66", b"X-Internal-Token: guess", b"X-Lab-Forwarded-Proof: x"),
    )
    assert raw_exchange(port, request)[0] == 200
    ((line, headers, got),) = recorder.seen
    assert line == b"POST " + received + b" HTTP/1.1"
    assert got == body
    assert "x-internal-token" not in headers
    if not sent.removeprefix(b"http://127.0.0.1").startswith(b"/auth/"):
        # only auth gets the client address and its proof
        assert "x-forwarded-for" not in headers and "x-lab-forwarded-proof" not in headers
        return
    assert headers["x-forwarded-for"] == "127.0.0.1"  # the socket's peer, not the client's claim
    assert check_proof(
        settings.gateway_proxy_key(),
        headers["x-lab-forwarded-proof"],
        address="127.0.0.1",
        method="POST",
        target=received,
        body=body,
        now=time.time(),
    )


def test_a_refused_path_is_never_forwarded(recorded: tuple[int, Recorder, Settings]) -> None:
    port, recorder, _ = recorded
    for target in (b"/auth/x/../login", b"/auth/%69nternal", b"/auth/internal", b"/auth//login"):
        assert raw_exchange(port, raw_request(b"GET", target))[0] in (400, 404)
    assert recorder.seen == []
