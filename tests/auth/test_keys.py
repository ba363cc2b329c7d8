"""Signing keys on disk: rotation keeps the old key published until its tokens expire."""

from __future__ import annotations

from pathlib import Path

import pytest

from auth.keys import KeyStore, UnknownKey, list_keys, revoke, rotate
from tests.support import wait_for


def _kids(store: KeyStore) -> set[str]:
    return {k["kid"] for k in store.jwks()["keys"]}


def test_rotation_publishes_the_old_key_until_its_tokens_expire(tmp_path: Path) -> None:
    store = KeyStore(tmp_path / "keys", "RS256", token_ttl=1)
    old = store.active.kid
    new = rotate(tmp_path / "keys", "RS256")
    assert store.active.kid == new and _kids(store) == {old, new}
    wait_for(lambda: _kids(store) == {new}, timeout=5, what="the old key to expire")
    assert (tmp_path / "keys" / f"{new}.pem").stat().st_mode & 0o077 == 0


def test_revoking_the_active_key_withdraws_it_and_makes_a_new_one(tmp_path: Path) -> None:
    store = KeyStore(tmp_path / "keys", "EdDSA", token_ttl=900)
    old = store.active.kid
    new = revoke(tmp_path / "keys", old, "EdDSA")
    assert new and _kids(store) == {new} and store.active.kid == new
    assert [r.revoked for r in list_keys(tmp_path / "keys")] == [True, False]
    with pytest.raises(UnknownKey):
        revoke(tmp_path / "keys", "no-such-kid", "EdDSA")
