"""Whose address a request comes from: the gateway's signed X-Forwarded-For, trusted proxies."""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import re
import secrets
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field

PROOF_HEADER = "X-Lab-Forwarded-Proof"
PROOF_WINDOW = 30  # seconds a proof is believed either side of its timestamp
NONCES_REMEMBERED = 100_000  # a login rate far beyond what password hashing allows here
_PROOF = re.compile(r"v1\.(\d{1,12})\.([A-Za-z0-9_-]{16,64})\.([A-Za-z0-9_-]{43})", re.ASCII)

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class ProofError(ValueError):
    """A forwarded-address proof that does not hold for this request; the message says why."""


def sign_proof(
    key: bytes,
    *,
    address: str,
    method: str,
    target: bytes,
    body: bytes,
    now: float,
    nonce: str | None = None,
) -> str:
    """`v1.<unix ts>.<nonce>.<mac>`: an HMAC-SHA256 over the address, the method, the raw target
    (path and query) sent upstream, the timestamp, the nonce and the body's SHA-256."""
    stamp = str(int(now))
    nonce = nonce or secrets.token_urlsafe(12)
    mac = _mac(key, stamp, nonce, address, method, target, body)
    return f"v1.{stamp}.{nonce}.{mac}"


def check_proof(
    key: bytes,
    proof: str,
    *,
    address: str,
    method: str,
    target: bytes,
    body: bytes,
    now: float,
    window: float = PROOF_WINDOW,
) -> tuple[str, int]:
    """The proof's nonce and timestamp if it holds for exactly this request now; else ProofError."""
    match = _PROOF.fullmatch(proof)
    if match is None:
        raise ProofError("malformed proof")
    stamp, nonce, mac = match.groups()
    expected = _mac(key, stamp, nonce, address, method, target, body)
    if not hmac.compare_digest(mac.encode(), expected.encode()):
        raise ProofError("the proof does not match this request")
    if abs(now - int(stamp)) > window:
        raise ProofError("the proof is outside its time window")
    return nonce, int(stamp)


def _mac(
    key: bytes, stamp: str, nonce: str, address: str, method: str, target: bytes, body: bytes
) -> str:
    fields = (
        b"v1",
        stamp.encode(),
        nonce.encode(),
        method.encode(),
        address.encode(),
        target,
        hashlib.sha256(body).digest(),
    )
    # each field carries its length, so no two different requests sign the same bytes
    message = b"".join(len(f).to_bytes(4, "big") + f for f in fields)
    digest = hmac.new(key, message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


@dataclass
class NonceCache:
    """Nonces of proofs already believed, each kept until its proof expires; bounded."""

    size: int = NONCES_REMEMBERED
    _expiry: OrderedDict[str, float] = field(default_factory=OrderedDict)

    def first_use(self, nonce: str, expires: float, now: float) -> bool:
        """Record the nonce; False if it was seen before, or if the cache is full of live ones
        (then the proof is not believed: a replay must never pass because memory ran out)."""
        while self._expiry and next(iter(self._expiry.values())) < now:
            self._expiry.popitem(last=False)
        if nonce in self._expiry or len(self._expiry) >= self.size:
            return False
        self._expiry[nonce] = expires
        return True


def parse_networks(text: str) -> tuple[Network, ...]:
    """`127.0.0.1, 10.0.0.0/8, ::1` -> networks; ValueError naming a bad entry."""
    networks = []
    for entry in (e.strip() for e in text.split(",")):
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            raise ValueError(f"{entry!r} is neither an IP address nor a network") from None
    return tuple(networks)


def is_trusted(address: str, trusted: Sequence[Network]) -> bool:
    """True if the address lies in one of the trusted networks."""
    if not trusted:
        return False
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in trusted)


def client_from_chain(peer: str, forwarded: Sequence[str], trusted: Sequence[Network]) -> str:
    """The client's address: the socket peer, unless the peer is a trusted proxy; then the
    right-most X-Forwarded-For entry that is not itself a trusted proxy (entries further left
    were written by whoever the client is, and prove nothing)."""
    address = peer
    if not is_trusted(peer, trusted):
        return address
    entries = [entry.strip() for value in forwarded for entry in value.split(",")]
    for entry in reversed(entries):
        try:
            ip = ipaddress.ip_address(entry)
        except ValueError:
            return address  # a trusted hop wrote no address: the hop itself is all we know
        address = str(ip)
        if not is_trusted(address, trusted):
            break
    return address


@dataclass
class ForwardedTrust:
    """What a service believes about a request's address: the gateway's proof, once each, or a
    trusted proxy's X-Forwarded-For; otherwise the socket peer."""

    key: bytes
    trusted: tuple[Network, ...] = ()
    window: float = PROOF_WINDOW
    nonces: NonceCache = field(default_factory=NonceCache)

    def address(
        self,
        *,
        peer: str,
        forwarded: Sequence[str],
        proof: str | None,
        method: str,
        target: bytes,
        body: bytes,
        now: float,
    ) -> str:
        """The address a request's failures count against."""
        if proof is not None and len(forwarded) == 1:
            try:
                nonce, stamp = check_proof(
                    self.key,
                    proof,
                    address=forwarded[0],
                    method=method,
                    target=target,
                    body=body,
                    now=now,
                    window=self.window,
                )
            except ProofError:
                pass
            else:
                if self.nonces.first_use(nonce, stamp + self.window, now):
                    return forwarded[0]
        return client_from_chain(peer, forwarded, self.trusted)
