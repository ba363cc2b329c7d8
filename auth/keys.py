"""Signing keys persisted under <state>/keys: create, rotate, revoke, publish."""

from __future__ import annotations

import fcntl
import json
import os
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization

from common.tokens import SigningKey, generate_private_key, public_jwk

INDEX = "keys.json"


class UnknownKey(LookupError):
    """A key id that is not in the key store."""


@dataclass
class KeyRecord:
    """One key's metadata in the index."""

    kid: str
    alg: str
    created_at: float
    retired_at: float | None = None
    revoked: bool = False


@contextmanager
def _locked(keys_dir: Path) -> Iterator[None]:
    keys_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    with (keys_dir / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _read_index(keys_dir: Path) -> list[KeyRecord]:
    path = keys_dir / INDEX
    if not path.exists():
        return []
    data: dict[str, Any] = json.loads(path.read_text())
    return [KeyRecord(**item) for item in data.get("keys", [])]


def _write_index(keys_dir: Path, records: list[KeyRecord]) -> None:
    tmp = keys_dir / (INDEX + ".tmp")
    tmp.write_text(json.dumps({"keys": [r.__dict__ for r in records]}, indent=2))
    os.replace(tmp, keys_dir / INDEX)


def _new_key(keys_dir: Path, alg: str) -> KeyRecord:
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
    return KeyRecord(kid=kid, alg=alg, created_at=time.time())


def ensure_key(keys_dir: Path, alg: str) -> None:
    """Create a first active key if there is none usable for alg."""
    with _locked(keys_dir):
        records = _read_index(keys_dir)
        if any(r.alg == alg and r.retired_at is None and not r.revoked for r in records):
            return
        now = time.time()
        for r in records:
            if r.retired_at is None:
                r.retired_at = now
        records.append(_new_key(keys_dir, alg))
        _write_index(keys_dir, records)


def rotate(keys_dir: Path, alg: str) -> str:
    """Make a new active key; the old one stays published until its tokens expire."""
    with _locked(keys_dir):
        records = _read_index(keys_dir)
        now = time.time()
        for r in records:
            if r.retired_at is None:
                r.retired_at = now
        record = _new_key(keys_dir, alg)
        records.append(record)
        _write_index(keys_dir, records)
        return record.kid


def revoke(keys_dir: Path, kid: str, alg: str) -> str | None:
    """Withdraw a key from the JWKS at once; returns the new active kid if it was active."""
    with _locked(keys_dir):
        records = _read_index(keys_dir)
        match = [r for r in records if r.kid == kid]
        if not match:
            raise UnknownKey(f"no key with kid {kid!r}")
        record = match[0]
        was_active = record.retired_at is None and not record.revoked
        record.revoked = True
        record.retired_at = record.retired_at or time.time()
        new_kid = None
        if was_active:
            fresh = _new_key(keys_dir, alg)
            records.append(fresh)
            new_kid = fresh.kid
        _write_index(keys_dir, records)
        return new_kid


def list_keys(keys_dir: Path) -> list[KeyRecord]:
    """Every key in the index, oldest first."""
    return _read_index(keys_dir)


class KeyStore:
    """The auth process's view of the key files, reloaded when the index changes."""

    def __init__(self, keys_dir: Path, alg: str, token_ttl: int) -> None:
        self.keys_dir = keys_dir
        self.alg = alg
        self.token_ttl = token_ttl
        self._mtime = -1.0
        self._active: SigningKey | None = None
        self._public: list[tuple[KeyRecord, dict[str, Any]]] = []
        ensure_key(keys_dir, alg)
        self.reload()

    def reload(self) -> None:
        """Re-read the index and key files if the index changed on disk."""
        mtime = (self.keys_dir / INDEX).stat().st_mtime
        if mtime == self._mtime:
            return
        records = [r for r in _read_index(self.keys_dir) if not r.revoked]
        current = [r for r in records if r.retired_at is None and r.alg == self.alg]
        if not current:  # the active key was revoked by hand: make a new one
            ensure_key(self.keys_dir, self.alg)
            self.reload()
            return
        self._active = self._load(current[-1])
        self._public = [(r, public_jwk(self._load(r))) for r in records]
        self._mtime = mtime

    def _load(self, record: KeyRecord) -> SigningKey:
        pem = (self.keys_dir / f"{record.kid}.pem").read_bytes()
        private = serialization.load_pem_private_key(pem, password=None)
        return SigningKey(kid=record.kid, alg=record.alg, private_key=private)  # type: ignore[arg-type]

    @property
    def active(self) -> SigningKey:
        """The key new tokens are signed with."""
        self.reload()
        assert self._active is not None
        return self._active

    def jwks(self) -> dict[str, Any]:
        """The public JWKS: the active key and retired keys whose tokens may still be valid."""
        self.reload()
        now = time.time()
        keys = [
            jwk
            for r, jwk in self._public
            if r.retired_at is None or r.retired_at + self.token_ttl > now
        ]
        return {"keys": keys}
