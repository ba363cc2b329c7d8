"""Password rules after NIST SP 800-63B: NFKC-normalised, 8-1024 characters, not a common or
breached-style password, not the username. No composition rules, which 800-63B advises against.

The list of common passwords is the one the zxcvbn package ships (the 30,000 most frequent
passwords of leaked password sets, collected by the zxcvbn project); nothing is fetched at run
time. Entries shorter than 8 characters are already refused by the length rule.
"""

from __future__ import annotations

import unicodedata
from functools import cache

MIN_LENGTH = 8
MAX_LENGTH = 1024


class WeakPassword(ValueError):
    """A password the rules refuse; the message says why, for the 422 answer."""

    @property
    def context(self) -> dict[str, str]:
        """What the 422 answer adds to the error code."""
        return {"detail": str(self)}


def normalise_password(raw: str) -> str:
    """NFKC, as 800-63B asks, so every way of typing the same characters gives one password."""
    return unicodedata.normalize("NFKC", raw)


@cache
def _common() -> frozenset[str]:
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    return frozenset(p for p in FREQUENCY_LISTS["passwords"] if len(p) >= MIN_LENGTH)


def check_length(password: str) -> str:
    """Refuse a (normalised) password outside the length bounds, before any hashing."""
    if not MIN_LENGTH <= len(password) <= MAX_LENGTH:
        raise WeakPassword(f"password must be {MIN_LENGTH}-{MAX_LENGTH} characters")
    return password


def check_new_password(password: str, username: str) -> None:
    """Refuse a password chosen at registration that is common or is the username."""
    folded = password.casefold()
    if folded == username.casefold():
        raise WeakPassword("password must not be the username")
    if folded in _common():
        raise WeakPassword("password is on a list of commonly used passwords; choose another")
