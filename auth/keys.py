"""Signing keys persisted under <state>/keys: pre-publish, rotate, revoke, publish.

Every key is published in the JWKS before it signs anything. The index always holds a *next* key:
published, not yet signing. `rotate` schedules that key to start signing once every verifier can
know it (it has been published for at least `lead` seconds, the verifiers' JWKS cache lifetime),
and publishes a new next key. Until then the current key keeps signing, so a rotation refuses no
valid token. A key that stopped signing stays published until the tokens it signed expire.
"""

from __future__ import annotations

import fcntl
import itertools
import json
import os
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization

from common.tokens import SigningKey, generate_private_key, public_jwk

INDEX = "keys.json"


class UnknownKey(LookupError):
    """A key id that is not in the key store."""


class KeyState(StrEnum):
    """Where a key is in its life, at a given time."""

    NEXT = "next"  # published, not scheduled to sign yet
    PENDING = "pending"  # published, signs from activates_at on
    ACTIVE = "active"  # signs new tokens
    RETIRED = "retired"  # no longer signs; published until its tokens expire
    EXPIRED = "expired"  # retired, and every token it signed has expired
    REVOKED = "revoked"  # withdrawn from the JWKS at once


@dataclass
class KeyRecord:
    """One key's metadata in the index; activates_at None means not scheduled to sign."""

    kid: str
    alg: str
    created_at: float
    activates_at: float | None = None
    revoked: bool = False


@dataclass(frozen=True)
class KeyView:
    """A key's record with its state and, once a successor signs, when it stopped signing."""

    record: KeyRecord
    state: KeyState
    retired_at: float | None


@dataclass(frozen=True)
class Rotation:
    """What a rotation scheduled: the key that will sign, from when, and the new next key."""

    kid: str
    activates_at: float
    next_kid: str


@contextmanager
def _locked(keys_dir: Path) -> Iterator[None]:
    keys_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    with (keys_dir / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _record(item: dict[str, Any]) -> KeyRecord:
    # An index written before keys were pre-published has no activates_at: those keys signed
    # from their creation on.
    return KeyRecord(
        kid=item["kid"],
        alg=item["alg"],
        created_at=item["created_at"],
        activates_at=item.get("activates_at", item["created_at"]),
        revoked=item.get("revoked", False),
    )


def _read_index(keys_dir: Path) -> list[KeyRecord]:
    path = keys_dir / INDEX
    if not path.exists():
        return []
    data: dict[str, Any] = json.loads(path.read_text())
    return [_record(item) for item in data.get("keys", [])]


def _write_index(keys_dir: Path, records: list[KeyRecord]) -> None:
    tmp = keys_dir / (INDEX + ".tmp")
    tmp.write_text(json.dumps({"keys": [asdict(r) for r in records]}, indent=2))
    os.replace(tmp, keys_dir / INDEX)


def _new_key(keys_dir: Path, alg: str, activates_at: float | None = None) -> KeyRecord:
    kid = f"{time.strftime('%Y%m%d')}-{uuid.uuid4().hex[:8]}"
    private = generate_private_key(alg)
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    fd = os.open(keys_dir / f"{kid}.pem", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
    return KeyRecord(kid=kid, alg=alg, created_at=time.time(), activates_at=activates_at)


def key_states(records: list[KeyRecord], token_ttl: float, now: float) -> list[KeyView]:
    """Each key's state at `now`: the signing keys form one timeline ordered by activates_at."""
    timeline = sorted(
        (r for r in records if r.activates_at is not None and not r.revoked),
        key=lambda r: r.activates_at or 0.0,
    )
    successor = {a.kid: b.activates_at for a, b in itertools.pairwise(timeline)}
    views = []
    for r in records:
        retired_at = successor.get(r.kid)
        if r.revoked:
            state = KeyState.REVOKED
        elif r.activates_at is None:
            state = KeyState.NEXT
        elif r.activates_at > now:
            state = KeyState.PENDING
        elif retired_at is None or retired_at > now:
            state = KeyState.ACTIVE
        elif retired_at + token_ttl > now:
            state = KeyState.RETIRED
        else:
            state = KeyState.EXPIRED
        views.append(KeyView(r, state, retired_at if state is not KeyState.ACTIVE else None))
    return views


def _signing(records: list[KeyRecord], now: float) -> KeyRecord | None:
    views = key_states(records, token_ttl=0, now=now)
    active = [v.record for v in views if v.state is KeyState.ACTIVE]
    return active[-1] if active else None


def _ensure_next(keys_dir: Path, records: list[KeyRecord], alg: str) -> KeyRecord:
    for r in records:
        if r.activates_at is None and not r.revoked and r.alg == alg:
            return r
    fresh = _new_key(keys_dir, alg)
    records.append(fresh)
    return fresh


def ensure_key(keys_dir: Path, alg: str) -> None:
    """Make sure a key of alg signs now and a next key of alg is published."""
    with _locked(keys_dir):
        records = _read_index(keys_dir)
        before = [asdict(r) for r in records]
        now = time.time()
        current = _signing(records, now)
        if current is None or current.alg != alg:
            # First start, or the algorithm changed: nobody holds a token of this key yet, and
            # verifiers fetch the JWKS again when they meet its unknown kid.
            for r in records:  # a key of another algorithm must never start signing
                if r.alg != alg and (r.activates_at is None or r.activates_at > now):
                    r.revoked = True
            records.append(_new_key(keys_dir, alg, activates_at=now))
        _ensure_next(keys_dir, records, alg)
        if [asdict(r) for r in records] != before:
            _write_index(keys_dir, records)


def rotate(keys_dir: Path, alg: str, lead: float) -> Rotation:
    """Schedule the published next key to sign once it has been published for `lead` seconds,
    and publish a new next key; the current key signs until then."""
    with _locked(keys_dir):
        records = _read_index(keys_dir)
        promoted = _ensure_next(keys_dir, records, alg)
        fresh = _new_key(keys_dir, alg)  # generated first: the schedule starts once it exists
        records.append(fresh)
        now = time.time()
        latest = max((r.activates_at or 0.0 for r in records if not r.revoked), default=now)
        promoted.activates_at = max(now, promoted.created_at + lead, latest)
        _write_index(keys_dir, records)
        return Rotation(promoted.kid, promoted.activates_at, fresh.kid)


def revoke(keys_dir: Path, kid: str, alg: str) -> str | None:
    """Withdraw a key from the JWKS at once; if it was signing, the next key signs at once.

    Returns the kid that signs from now on if the revoked key was signing. That key was
    published before, so verifiers that refreshed since know it; the others fetch the JWKS
    again when they meet its kid.
    """
    with _locked(keys_dir):
        records = _read_index(keys_dir)
        match = [r for r in records if r.kid == kid]
        if not match:
            raise UnknownKey(f"no key with kid {kid!r}")
        now = time.time()
        was_signing = _signing(records, now) is match[0]
        match[0].revoked = True
        new_kid = None
        if was_signing:
            for r in records:  # a scheduled key would otherwise hand signing back later
                if r.activates_at and r.activates_at > now and not r.revoked:
                    r.activates_at = None
            promoted = _ensure_next(keys_dir, records, alg)
            promoted.activates_at = now
            new_kid = promoted.kid
        _ensure_next(keys_dir, records, alg)
        _write_index(keys_dir, records)
        return new_kid


def list_keys(keys_dir: Path, token_ttl: float) -> list[KeyView]:
    """Every key in the index with its state now, oldest first."""
    return key_states(_read_index(keys_dir), token_ttl, time.time())


class KeyStore:
    """The auth process's view of the key files, reloaded when the index changes."""

    def __init__(self, keys_dir: Path, alg: str, token_ttl: int) -> None:
        self.keys_dir = keys_dir
        self.alg = alg
        self.token_ttl = token_ttl
        self._stamp: tuple[int, int, int] | None = None
        self._records: list[KeyRecord] = []
        self._keys: dict[str, SigningKey] = {}
        self._jwks: dict[str, dict[str, Any]] = {}
        ensure_key(keys_dir, alg)
        self.reload()

    def reload(self) -> None:
        """Re-read the index and key files if the index changed on disk: here, or in another
        auth process sharing the keys dir. Every write replaces the file, so its inode changes
        even when two writes share a timestamp tick."""
        st = (self.keys_dir / INDEX).stat()
        stamp = (st.st_mtime_ns, st.st_ino, st.st_size)
        if stamp == self._stamp:
            return
        records = [r for r in _read_index(self.keys_dir) if not r.revoked]
        if not any(r.activates_at is None for r in records):
            ensure_key(self.keys_dir, self.alg)  # the next key was revoked by hand
            self.reload()
            return
        self._keys = {r.kid: self._keys.get(r.kid) or self._load(r) for r in records}
        self._jwks = {kid: public_jwk(key) for kid, key in self._keys.items()}
        self._records = records
        self._stamp = stamp

    def _load(self, record: KeyRecord) -> SigningKey:
        pem = (self.keys_dir / f"{record.kid}.pem").read_bytes()
        private = serialization.load_pem_private_key(pem, password=None)
        return SigningKey(kid=record.kid, alg=record.alg, private_key=private)  # type: ignore[arg-type]

    @property
    def active(self) -> SigningKey:
        """The key new tokens are signed with now."""
        self.reload()
        record = _signing(self._records, time.time())
        if record is None:  # every signing key was revoked by hand
            ensure_key(self.keys_dir, self.alg)
            self.reload()
            record = _signing(self._records, time.time())
        assert record is not None
        return self._keys[record.kid]

    def jwks(self) -> dict[str, Any]:
        """The public JWKS: next and pending keys, the active key, and retired keys whose
        tokens may still be valid."""
        self.reload()
        published = {KeyState.NEXT, KeyState.PENDING, KeyState.ACTIVE, KeyState.RETIRED}
        views = key_states(self._records, self.token_ttl, time.time())
        return {"keys": [self._jwks[v.record.kid] for v in views if v.state in published]}
