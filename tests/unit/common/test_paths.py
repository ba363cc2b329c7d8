"""Canonical request targets: which raw spellings are refused, and what a server reads first."""

from __future__ import annotations

import re

import pytest

from common.paths import NonCanonical, check_target, first_segment, split_first, target

CANONICAL = [
    b"/",
    b"/auth/login",
    b"/auth/login/",  # one trailing slash is fine
    b"/profiles/whoami",
    b"/auth/users/me",
    b"/auth/.well-known/jwks.json",  # a dot inside a segment is not a dot segment
    b"/auth/a..b/...",
    b"/auth/x;y=1/z",
    b"/auth/%20space",
    b"/auth/%3Fq%23f%25%3B",  # reserved characters stay encoded
    b"/auth/caf%C3%A9",  # UTF-8, encoded
    b"/health",
    b"/docs",
    b"/openapi.json",
]

REFUSED = {
    b"/auth/x/../internal/mode": "dot segment",
    b"/auth/./internal": "dot segment",
    b"/auth/..": "dot segment",
    b"/auth/.": "dot segment",
    b"/auth/..;x/internal": "dot segment",
    b"/auth/.;/internal": "dot segment",
    b"/auth/%2e%2e/internal": "'.'",
    b"/auth/%2E/internal": "'.'",
    b"/auth/.%2e/internal": "'.'",
    b"/auth/%2finternal": "'/'",
    b"/auth%2Finternal/status": "'/'",
    b"/auth/%5cinternal": "'\\\\'",
    b"/auth/%69nternal/status": "'i'",
    b"/auth/%49NTERNAL/status": "'I'",
    b"/auth/in%74ernal": "'t'",
    b"/%61uth/login": "'a'",
    b"/auth/%7e": "'~'",
    b"/auth/%2D%5F%30": "'-'",
    b"/auth/x\\..\\internal": "backslash",
    b"/auth\\internal": "backslash",
    b"/auth//internal/status": "empty segment",
    b"//auth/internal": "empty segment",
    b"/auth/login//": "empty segment",
    b"/auth/%00": "control character",
    b"/auth/%0a": "control character",
    b"/auth/%1F": "control character",
    b"/auth/%7f": "control character",
    b"/auth/\x00": "control character",
    b"/auth/\tinternal": "control character",
    b"/auth/x\x7f": "control character",
    b"/auth/caf\xc3\xa9": "non-ASCII",
    b"/auth/%": "malformed",
    b"/auth/%4": "malformed",
    b"/auth/%zz": "malformed",
    b"/auth/%%69": "malformed",
    b"auth/login": "start with /",
    b"http://127.0.0.1/auth/internal": "start with /",
    b"*": "start with /",
    b"": "start with /",
}


@pytest.mark.parametrize("path", CANONICAL)
def test_canonical_paths_pass(path: bytes) -> None:
    check_target(path, b"a=1&b=%20+c&d=%2e%2F%00")  # a query's encodings are its own business


@pytest.mark.parametrize(("path", "why"), REFUSED.items())
def test_non_canonical_paths_are_refused_with_the_reason(path: bytes, why: str) -> None:
    with pytest.raises(NonCanonical, match=re.escape(why)):
        check_target(path, b"")


@pytest.mark.parametrize(
    ("query", "why"),
    [(b"a=\x00", "control"), (b"a=\tb", "control"), (b"a=\x7f", "control"), (b"a=\xff", "ASCII")],
)
def test_control_characters_in_the_query_are_refused(query: bytes, why: str) -> None:
    with pytest.raises(NonCanonical, match=why):
        check_target(b"/auth/login", query)


def test_split_first_and_target() -> None:
    assert split_first(b"/auth/login") == (b"auth", b"/login")
    assert split_first(b"/auth/") == (b"auth", b"/")
    assert split_first(b"/auth") == (b"auth", b"")
    assert split_first(b"/auth/a/b") == (b"auth", b"/a/b")
    assert target(b"/login", b"") == b"/login"
    assert target(b"/login", b"a=1") == b"/login?a=1"


@pytest.mark.parametrize(
    "path",
    [
        b"/internal",
        b"/internal/",
        b"/internal/status",
        b"/INTERNAL/mode",
        b"/Internal",
        b"/internal;x=1/status",
        b"/InTeRnAl;/status",
        b"/%69nternal/status",  # check_target refuses it first; decoded, it is still internal
    ],
)
def test_first_segment_is_read_as_the_server_reads_it(path: bytes) -> None:
    assert first_segment(path) == b"internal"


@pytest.mark.parametrize("path", [b"/", b"", b"/internals", b"/x/internal", b"/%2569nternal"])
def test_other_first_segments_are_not_internal(path: bytes) -> None:
    assert first_segment(path) != b"internal"
