"""Which Host headers an admin surface answers: parsing the header, and the names served."""

from __future__ import annotations

import pytest

from common.settings import Settings
from common.web import host_name, served_hosts


@pytest.mark.parametrize(
    ("header", "name"),
    [
        ("127.0.0.1", "127.0.0.1"),
        ("127.0.0.1:8080", "127.0.0.1"),
        ("LocalHost:8080", "localhost"),
        ("localhost.:8080", "localhost"),
        ("[::1]:8080", "::1"),
        ("[::1]", "::1"),
        ("auth:8001", "auth"),
        ("evil.example", "evil.example"),
    ],
)
def test_the_host_a_header_names(header: str, name: str) -> None:
    assert host_name(header) == name


@pytest.mark.parametrize(
    "header",
    ["", ":8080", "::1", "[::1", "a b", "user@127.0.0.1", "127.0.0.1:80:80", "127.0.0.1:x", "/"],
)
def test_a_header_that_names_no_host(header: str) -> None:
    assert host_name(header) is None


def test_served_hosts_are_loopback_the_bind_host_the_urls_and_the_allowed_ones() -> None:
    settings = Settings(
        lab_bind_host="0.0.0.0",
        lab_host="127.0.0.1",
        lab_allowed_hosts=" Lab.Example , [fd00::1],",
    )
    served = served_hosts(settings, ["http://auth:8001", "http://user:pw@Profiles-2:8111/x"])
    assert served == {
        "127.0.0.1",
        "localhost",
        "::1",
        "0.0.0.0",
        "auth",
        "profiles-2",
        "lab.example",
        "fd00::1",
    }
    assert "evil.example" not in served_hosts(Settings())
