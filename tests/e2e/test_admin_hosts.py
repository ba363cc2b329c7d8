"""DNS rebinding: the dashboard and every /internal/* route answer only for the host names they
serve; the public routes answer any Host. Real processes, real sockets, forged Host headers."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import httpx
import pytest

from lab.isolated import isolated_env
from lab.processes import Stack

ALLOWED = "lab.example"  # LAB_ALLOWED_HOSTS
FORGED = ("evil.example", "evil.example:80", "127.0.0.1.evil.example", "localhost.evil.example")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    state = tmp_path_factory.mktemp("hosts") / "state"
    stack = Stack(env=isolated_env(state, LAB_ALLOWED_HOSTS=ALLOWED))
    try:
        stack.up()
        yield stack
    finally:
        stack.down()


def get(stack: Stack, port: int, path: str, host: str, internal: bool = False) -> httpx.Response:
    headers = {"Host": host}
    if internal:
        headers["X-Internal-Token"] = stack.settings.internal_token()
    return httpx.get(f"http://127.0.0.1:{port}{path}", headers=headers, timeout=10)


def served(port: int) -> list[str]:
    return [f"127.0.0.1:{port}", f"localhost:{port}", "localhost", f"[::1]:{port}", ALLOWED]


def raw(port: int, request: bytes) -> int:
    """The status of a hand-written request, sent as written."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        answer = b""
        while b"\r\n" not in answer:
            chunk = sock.recv(4096)
            if not chunk:
                break
            answer += chunk
    return int(answer.split(b" ", 2)[1])


def test_the_dashboard_answers_only_for_its_own_host_names(stack: Stack) -> None:
    port = stack.settings.lab_dashboard_port
    for path, internal in (("/", False), ("/health", False), ("/api/state", True)):
        for host in FORGED:
            r = get(stack, port, path, host, internal)
            assert r.status_code == 421, (path, host, r.text)
            assert r.json() == {
                "success": False,
                "error": "unknown_host",
                "detail": "not a host served here",
            }
        for host in served(port):
            assert get(stack, port, path, host, internal).status_code == 200, (path, host)


def test_internal_routes_answer_only_for_their_own_host_names(stack: Stack) -> None:
    for name in ("auth", "profiles", "notifications"):
        port = stack.spec(name).port
        for host in FORGED:
            r = get(stack, port, "/internal/status", host, internal=True)
            assert r.status_code == 421 and r.json()["error"] == "unknown_host", (name, host)
            put = httpx.put(
                f"http://127.0.0.1:{port}/internal/mode",
                json={"mode": "streams"},
                headers={"Host": host, "X-Internal-Token": stack.settings.internal_token()},
                timeout=10,
            )
            assert put.status_code == 421, (name, host)
        for host in served(port):
            r = get(stack, port, "/internal/status", host, internal=True)
            assert r.status_code == 200 and r.json()["mode"] == "lazy", (name, host)
        # without the token the answer is still 421 before 401: the host decides first
        assert get(stack, port, "/internal/status", "evil.example").status_code == 421
        assert get(stack, port, "/internal/status", "localhost").status_code == 401


def test_hand_written_host_headers_are_refused(stack: Stack) -> None:
    port = stack.spec("auth").port
    token = stack.settings.internal_token().encode()
    status = b"GET /internal/status HTTP/1.1\r\nX-Internal-Token: " + token + b"\r\n"
    assert raw(port, status + b"Host: localhost\r\nConnection: close\r\n\r\n") == 200
    two = b"Host: localhost\r\nHost: evil.example\r\nConnection: close\r\n\r\n"
    assert raw(port, status + two) in (400, 421)
    encoded = b"GET /%69nternal/status HTTP/1.1\r\nX-Internal-Token: " + token + b"\r\n"
    assert raw(port, encoded + b"Host: evil.example\r\nConnection: close\r\n\r\n") == 421
    bare = b"GET /internal/status HTTP/1.0\r\nX-Internal-Token: " + token + b"\r\n\r\n"
    assert raw(port, bare) in (400, 421)  # no Host at all
    dashboard = stack.settings.lab_dashboard_port
    assert raw(dashboard, b"GET / HTTP/1.1\r\nHost: a@localhost\r\nConnection: close\r\n\r\n") in (
        400,
        421,
    )


def test_public_routes_answer_any_host(stack: Stack) -> None:
    gateway = stack.settings.lab_gateway_port
    auth = stack.spec("auth").port
    for host in ("evil.example", "localhost", f"127.0.0.1:{gateway}"):
        assert get(stack, gateway, "/health", host).status_code == 200
        assert get(stack, gateway, "/auth/.well-known/jwks.json", host).status_code == 200
        assert get(stack, auth, "/.well-known/jwks.json", host).status_code == 200
    name = "host-check-user"
    creds = {"username": name, "password": "correct horse battery"}
    forged = {"Host": "evil.example"}
    url = f"http://127.0.0.1:{gateway}/auth"
    assert httpx.post(f"{url}/register", json=creds, headers=forged, timeout=30).status_code == 201
    login = httpx.post(f"{url}/login", json=creds, headers=forged, timeout=30)
    assert login.status_code == 200
    whoami = httpx.get(
        f"http://127.0.0.1:{gateway}/profiles/whoami",
        headers={**forged, "Authorization": f"Bearer {login.json()['token']}"},
        timeout=30,
    )
    assert whoami.status_code == 200, whoami.text
