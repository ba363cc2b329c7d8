"""Canonical request targets: the one spelling of a path that every HTTP layer reads alike."""

from __future__ import annotations

from urllib.parse import unquote_to_bytes

# RFC 3986 unreserved characters: their percent-encoded spelling means the plain one, so a layer
# that decodes and one that does not would read two different paths.
UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
HEX_DIGITS = frozenset(b"0123456789ABCDEFabcdef")
DOT_SEGMENTS = frozenset({b".", b".."})


class NonCanonical(ValueError):
    """A request target that some HTTP layer could read differently; the message says why."""


def check_target(raw_path: bytes, query: bytes) -> None:
    """Raise NonCanonical unless the raw path and raw query are in canonical form."""
    if not raw_path.startswith(b"/"):
        raise NonCanonical("the path must start with /")
    _check_bytes(raw_path, "path")
    if b"\\" in raw_path:
        raise NonCanonical("backslash in the path")
    _check_escapes(raw_path)
    segments = raw_path[1:].split(b"/")
    for index, segment in enumerate(segments):
        if not segment and index < len(segments) - 1:
            raise NonCanonical("empty segment (//) in the path")
        # a server that strips matrix parameters (`..;x`) would resolve it as a dot segment
        if segment.split(b";", 1)[0] in DOT_SEGMENTS:
            raise NonCanonical("dot segment (. or ..) in the path")
    _check_bytes(query, "query")


def _check_bytes(raw: bytes, part: str) -> None:
    for byte in raw:
        if byte < 0x20 or byte == 0x7F:
            raise NonCanonical(f"control character {byte:#04x} in the {part}")
        if byte > 0x7F:
            raise NonCanonical(f"non-ASCII byte {byte:#04x} in the {part}: percent-encode it")


def _check_escapes(raw_path: bytes) -> None:
    start = raw_path.find(b"%")
    while start != -1:
        digits = raw_path[start + 1 : start + 3]
        if len(digits) != 2 or not all(d in HEX_DIGITS for d in digits):
            raise NonCanonical("malformed percent-encoding in the path")
        byte = int(digits, 16)
        if byte in UNRESERVED:
            raise NonCanonical(f"percent-encoded {chr(byte)!r} in the path: write it plainly")
        if byte in b"/\\":
            raise NonCanonical(f"percent-encoded {chr(byte)!r} in the path")
        if byte < 0x20 or byte == 0x7F:
            raise NonCanonical(f"percent-encoded control character {byte:#04x} in the path")
        start = raw_path.find(b"%", start + 3)


def split_first(raw_path: bytes) -> tuple[bytes, bytes]:
    """`/auth/login` -> (`auth`, `/login`); `/auth` -> (`auth`, ``)."""
    first, slash, rest = raw_path.removeprefix(b"/").partition(b"/")
    return first, slash + rest


def first_segment(raw_path: bytes) -> bytes:
    """The first segment as a server reads it after percent-decoding: lower case, without
    matrix parameters (`Internal;x` -> `internal`)."""
    first, _ = split_first(raw_path)
    return unquote_to_bytes(first).split(b";", 1)[0].lower()


def target(raw_path: bytes, query: bytes) -> bytes:
    """The request target as sent on the wire: the path, and `?query` when there is one."""
    return raw_path + b"?" + query if query else raw_path
