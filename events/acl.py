"""Who may do what on the bus: one Valkey ACL user per role, written as an ACL file.

auth may only publish and append; a consumer may only subscribe, read and ack the stream (and
manage consumer groups on it), and append to its own dead-letter stream, never another service's;
`admin` serves the CLI, the benchmark and fault injection; `default` is off. Valkey's ACLs cover
commands, keys and channels, not argument values: a consumer's user cannot be limited to its own
group name (see SECURITY.md).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

from common.settings import CONSUMER_SERVICES
from events import names

ADMIN = "admin"
PUBLISHER = "auth"
# Every user needs these to connect: valkey-py authenticates, then names its library.
# A cluster client also reads the slot map and the command table, and follows ASK redirections.
_CONNECT = "+auth +hello +ping +client|setinfo +client|setname +cluster|slots +command +asking"
_PUBLISHER_RULES = f"+publish +xadd +wait &{names.CHANNEL} ~{names.STREAM}"
_CONSUMER_RULES = (
    "+subscribe +unsubscribe +xreadgroup +xack +xautoclaim +xpending +xrange +xinfo|groups"
    f" +xgroup|create +xgroup|createconsumer &{names.CHANNEL} ~{names.STREAM}"
)


def users() -> tuple[str, ...]:
    """Every ACL user of the embedded Valkey."""
    return (ADMIN, PUBLISHER, *CONSUMER_SERVICES)


def rules(user: str) -> str:
    """The ACL rules of a user: admin, the publisher, or else a consumer service."""
    if user == ADMIN:
        return "~* &* +@all"
    if user == PUBLISHER:
        return f"{_CONNECT} {_PUBLISHER_RULES}"
    # A selector: XADD on this one key only, so an append with MAXLEN 0 can wipe nothing but
    # the service's own dead letters.
    return f"{_CONNECT} {_CONSUMER_RULES} (+xadd ~{names.dead_letter(user)})"


def acl_file(passwords: Mapping[str, str]) -> str:
    """The ACL file for these users and passwords; it holds only SHA-256 digests."""
    lines = ["user default reset"]  # off, no password, no commands, keys or channels
    for user, password in sorted(passwords.items()):
        digest = hashlib.sha256(password.encode()).hexdigest()
        lines.append(f"user {user} reset on #{digest} {rules(user)}")
    return "\n".join(lines) + "\n"
