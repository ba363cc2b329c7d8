"""The dashboard process: its admin surface refuses callers without the token, and the page
drives a real stack in a real headless Chromium."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from lab.processes import ROOT, Stack
from tests.support import stack_env, wait_for

CHROMIUM = "/usr/bin/chromium"
SCREENSHOT = ROOT / "test-artifacts" / "dashboard.png"
BROWSER_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A lazy-mode stack with its dashboard, and a finished report in its reports dir."""
    base = tmp_path_factory.mktemp("dash")
    latest = base / "reports" / "latest"
    latest.mkdir(parents=True)
    (latest / "report.html").write_text('<section id="verdict"><p>lazy wins</p></section>')
    stack = Stack(env=stack_env(base / "state", LAB_REPORTS_DIR=str(base / "reports")))
    try:
        stack.up()
        yield stack
    finally:
        stack.down()


def url(stack: Stack, path: str = "/") -> str:
    return f"http://127.0.0.1:{stack.settings.lab_dashboard_port}{path}"


def statuses(stack: Stack) -> dict[str, dict[str, Any]]:
    return {row["name"]: row for row in stack.status()}


def test_up_starts_the_dashboard_and_status_shows_it(stack: Stack) -> None:
    row = statuses(stack)["dashboard"]
    assert row["healthy"] and row["port"] == stack.settings.lab_dashboard_port
    page = httpx.get(url(stack), timeout=5)
    assert page.status_code == 200 and "discovery-lab" in page.text
    assert "http://" not in page.text.replace("http://127.0.0.1", "")  # nothing from the network


def test_the_latest_report_is_read_from_the_reports_dir(stack: Stack) -> None:
    summary = httpx.get(url(stack, "/report/summary"), timeout=5).json()
    assert summary["exists"] is True and "lazy wins" in summary["verdict_html"]
    full = httpx.get(url(stack, "/report/full"), timeout=5)
    assert full.status_code == 200 and "lazy wins" in full.text


@pytest.mark.parametrize("token", [None, "wrong-token"])
def test_controls_without_the_token_get_401_and_change_nothing(
    stack: Stack, token: str | None
) -> None:
    headers = {"X-Internal-Token": token} if token else {}
    before = statuses(stack)
    calls = [
        ("GET", "/api/state", None),
        ("PUT", "/api/mode", {"mode": "streams"}),
        ("POST", "/api/processes/notifications/stop", None),
        ("POST", "/api/processes/valkey/stop", None),
        ("POST", "/api/burst", {"count": 3}),
        ("POST", "/api/deactivate", {"username": "nobody"}),
    ]
    for method, path, body in calls:
        reply = httpx.request(method, url(stack, path), json=body, headers=headers, timeout=10)
        assert reply.status_code == 401, (path, reply.text)
    after = statuses(stack)
    assert after["auth"]["mode"] == before["auth"]["mode"] == "lazy"
    assert after["auth"]["known_users"] == before["auth"]["known_users"]
    assert after["notifications"]["healthy"] and after["valkey"]["healthy"]


def test_bad_control_input_is_a_4xx(stack: Stack) -> None:
    headers = {"X-Internal-Token": stack.settings.internal_token()}
    for method, path, body in [
        ("PUT", "/api/mode", {"mode": "carrier-pigeon"}),
        ("POST", "/api/burst", {"count": 0}),
        ("POST", "/api/processes/nosuch/stop", None),
        ("POST", "/api/processes/notifications/explode", None),
        ("POST", "/api/deactivate", {"username": "never-registered-here"}),
    ]:
        reply = httpx.request(method, url(stack, path), json=body, headers=headers, timeout=10)
        assert 400 <= reply.status_code < 500, (path, reply.status_code, reply.text)
    assert statuses(stack)["notifications"]["healthy"]


def _browser_or_skip() -> Any:
    """Playwright's sync API, or a skip (a failure under CI=true) saying what is missing."""
    reason = None
    if not Path(CHROMIUM).exists():
        reason = f"no Chromium at {CHROMIUM} (apt-get install -y chromium chromium-driver)"
    else:
        try:
            from playwright.sync_api import sync_playwright
        except ImportError:
            reason = "the playwright package is not installed (pip install -e '.[dev]')"
    if reason is None:
        return sync_playwright
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true requires the browser test: {reason}")
    pytest.skip(reason)


def test_the_page_drives_the_stack_in_a_real_browser(stack: Stack) -> None:
    sync_playwright = _browser_or_skip()
    requested: list[str] = []
    profile = tempfile.mkdtemp(prefix="lab-chromium-")
    try:
        with sync_playwright() as pw:
            context = pw.chromium.launch_persistent_context(
                profile,
                executable_path=CHROMIUM,
                headless=True,
                args=BROWSER_FLAGS,
                viewport={"width": 1400, "height": 1000},
            )
            try:
                page = context.pages[0] if context.pages else context.new_page()
                page.on("request", lambda r: requested.append(r.url))
                try:
                    _drive(page, stack)
                finally:
                    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
                    page.screenshot(path=str(SCREENSHOT), full_page=True)
            finally:
                context.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    hosts = {urlsplit(u).hostname for u in requested if not u.startswith("data:")}
    assert hosts == {"127.0.0.1"}, hosts
    assert SCREENSHOT.exists()


def _drive(page: Any, stack: Stack) -> None:
    """Token, mode switch, burst, a consumer stopped and started, the grid filling in."""
    page.goto(url(stack))
    page.fill("#internal-token", stack.settings.internal_token())
    page.click("#token-save")
    page.wait_for_selector("#token-form", state="hidden")
    page.wait_for_function("document.querySelector('#mode-current').textContent === 'mode lazy'")

    # The seed's user: register, log in (token kept in localStorage), call each service.
    page.click("#user-register")
    page.wait_for_function("document.querySelector('#user-steps').textContent.includes('201')")
    page.click("#user-login")
    page.wait_for_function("localStorage.getItem('token') !== null")
    page.wait_for_function("document.querySelector('#token-kid').textContent.includes('kid')")
    assert "signature checked" in page.inner_text("#token-kid")
    assert '"user_id"' in page.inner_text("#token-claims")
    page.click("#user-call")
    page.wait_for_function("document.querySelectorAll('#answers tbody tr').length === 2")
    assert page.inner_text("#answers").count("lazy") == 2  # first sight, provisioned lazily

    page.click("#mode-streams")
    page.wait_for_function("document.querySelector('#mode-current').textContent === 'mode streams'")
    wait_for(lambda: statuses(stack)["profiles"].get("mode") == "streams", what="streams mode")

    page.fill("#burst-count", "4")
    page.click("#burst-go")
    page.wait_for_function(
        "document.querySelector('#activity').textContent.includes('4 registered')",
        timeout=60_000,
    )
    page.click("#stop-notifications")
    page.wait_for_function(
        "document.querySelector('#activity').textContent.includes('stop notifications: stopped')"
    )
    assert not statuses(stack)["notifications"]["healthy"]
    page.click("#burst-go")  # registered while notifications is away
    page.wait_for_function(
        "document.querySelector('#activity').textContent.split('4 registered').length > 2",
        timeout=60_000,
    )
    page.wait_for_function(
        "document.querySelector('#grid-summary').textContent.includes('notifications: unreachable')"
    )
    page.click("#start-notifications")
    # streams promises catch-up: the consumer group delivers the 8 events it missed or not.
    page.wait_for_function(
        "document.querySelector('#summary-notifications')?.textContent.includes('8 by event')",
        timeout=30_000,
    )
    page.wait_for_function(
        "document.querySelector('#summary-profiles')?.textContent.includes('8 by event')"
    )
    assert page.locator("#grid tbody tr").count() == 9  # the page's own user + 8
    counters = page.inner_text("#counters")
    assert "events published" in counters and "dead letters" in counters

    page.click("#deactivate-go")  # the latest user of the burst: user.deactivated reaches both
    page.wait_for_function("document.querySelector('#activity').textContent.includes('→ 204')")
    for service in ("profiles", "notifications"):
        page.wait_for_function(
            f"document.querySelector('#summary-{service}')?.textContent.includes('1 deactivated')"
        )
    assert page.locator("#grid tbody td.off").count() == 2
