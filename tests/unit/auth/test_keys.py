"""Signing keys on disk: every key is published before it signs, and stays published until its
tokens expire."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from auth.keys import (
    INDEX,
    KeyRecord,
    KeyState,
    KeyStore,
    UnknownKey,
    key_states,
    list_keys,
    revoke,
    rotate,
)
from tests.support import wait_for


def _kids(store: KeyStore) -> set[str]:
    return {k["kid"] for k in store.jwks()["keys"]}


def _states(keys_dir: Path, ttl: float = 900) -> dict[str, KeyState]:
    return {v.record.kid: v.state for v in list_keys(keys_dir, ttl)}


def test_a_new_store_signs_with_one_key_and_publishes_the_next(tmp_path: Path) -> None:
    store = KeyStore(tmp_path / "keys", "RS256", token_ttl=900)
    states = _states(tmp_path / "keys")
    assert sorted(states.values()) == [KeyState.ACTIVE, KeyState.NEXT]
    assert states[store.active.kid] is KeyState.ACTIVE
    assert _kids(store) == set(states)
    for kid in states:
        assert (tmp_path / "keys" / f"{kid}.pem").stat().st_mode & 0o077 == 0


def test_rotation_promotes_the_published_next_key(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    store = KeyStore(keys, "RS256", token_ttl=900)
    published_before = _kids(store)
    old = store.active.kid
    r = rotate(keys, "RS256", lead=0)
    assert r.kid in published_before  # it was in the JWKS before it signed anything
    assert store.active.kid == r.kid != old
    assert _kids(store) == published_before | {r.next_kid}
    assert _states(keys)[old] is KeyState.RETIRED


def test_a_key_signs_only_once_it_has_been_published_for_the_lead(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    store = KeyStore(keys, "RS256", token_ttl=900)
    old = store.active.kid
    before = time.time()
    first = rotate(keys, "RS256", lead=0)
    second = rotate(keys, "RS256", lead=3600)  # its key was published an instant ago
    assert second.kid == first.next_kid
    # the lead, counted from when its key was published (by the first rotation)
    assert before + 3600 <= second.activates_at <= time.time() + 3600
    assert store.active.kid == first.kid
    assert _states(keys)[second.kid] is KeyState.PENDING
    assert {old, first.kid, second.kid, second.next_kid} == _kids(store)


def test_a_pending_key_takes_over_at_its_time(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    store = KeyStore(keys, "EdDSA", token_ttl=900)
    rotate(keys, "EdDSA", lead=0)
    r = rotate(keys, "EdDSA", lead=0.5)
    wait_for(lambda: store.active.kid == r.kid, timeout=5, what="the pending key to sign")


def test_a_retired_key_leaves_the_jwks_once_its_tokens_expired(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    store = KeyStore(keys, "RS256", token_ttl=1)
    old = store.active.kid
    rotate(keys, "RS256", lead=0)
    # That it is published until then is test_states_follow_one_timeline's, with a fixed clock.
    wait_for(lambda: old not in _kids(store), timeout=10, what="the old key to expire")
    assert _states(keys, ttl=1)[old] is KeyState.EXPIRED


def test_revoking_the_signing_key_withdraws_it_and_promotes_the_next(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    store = KeyStore(keys, "EdDSA", token_ttl=900)
    old = store.active.kid
    (next_kid,) = _kids(store) - {old}
    new = revoke(keys, old, "EdDSA")
    assert new == next_kid and store.active.kid == new
    assert old not in _kids(store)
    assert sorted(_states(keys).values()) == [KeyState.ACTIVE, KeyState.NEXT, KeyState.REVOKED]
    with pytest.raises(UnknownKey):
        revoke(keys, "no-such-kid", "EdDSA")


def test_revoking_the_signing_key_cancels_a_scheduled_hand_over(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    store = KeyStore(keys, "RS256", token_ttl=900)
    pending = rotate(keys, "RS256", lead=3600)
    new = revoke(keys, store.active.kid, "RS256")
    assert store.active.kid == new
    assert _states(keys)[pending.kid] in (KeyState.NEXT, KeyState.ACTIVE)


def test_revoking_the_next_key_publishes_another(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    store = KeyStore(keys, "RS256", token_ttl=900)
    (next_kid,) = _kids(store) - {store.active.kid}
    assert revoke(keys, next_kid, "RS256") is None
    assert next_kid not in _kids(store) and len(_kids(store)) == 2


def test_an_index_written_before_pre_publication_still_loads(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    kid = KeyStore(keys, "RS256", token_ttl=900).active.kid
    legacy = {"kid": kid, "alg": "RS256", "created_at": 1.0, "retired_at": None, "revoked": False}
    (keys / INDEX).write_text(json.dumps({"keys": [legacy]}))
    store = KeyStore(keys, "RS256", token_ttl=900)
    assert store.active.kid == kid and len(_kids(store)) == 2  # and a next key is published


def test_states_follow_one_timeline() -> None:
    a = KeyRecord("a", "RS256", created_at=0, activates_at=0)
    b = KeyRecord("b", "RS256", created_at=0, activates_at=100)
    c = KeyRecord("c", "RS256", created_at=50)
    views = {v.record.kid: v for v in key_states([a, b, c], token_ttl=10, now=105)}
    assert views["a"].state is KeyState.RETIRED and views["a"].retired_at == 100
    assert views["b"].state is KeyState.ACTIVE and views["c"].state is KeyState.NEXT
    assert key_states([a, b], token_ttl=10, now=111)[0].state is KeyState.EXPIRED
    assert key_states([a, b], token_ttl=10, now=50)[1].state is KeyState.PENDING


def test_auth_processes_sharing_the_keys_dir_sign_and_publish_alike(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    first = KeyStore(keys, "RS256", token_ttl=900)
    second = KeyStore(keys, "RS256", token_ttl=900)  # another auth process: no key of its own
    assert second.active.kid == first.active.kid
    assert len(_states(keys)) == 2
    for _ in range(3):  # rotations back to back, as `keys rotate` run from anywhere
        r = rotate(keys, "RS256", lead=0)
        assert first.active.kid == second.active.kid == r.kid
        assert _kids(first) == _kids(second) == set(_states(keys))
