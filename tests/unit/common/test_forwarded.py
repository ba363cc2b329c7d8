"""The gateway's forwarded-address proof and whom a service believes: tampering with any covered
field, expiry, replay, trusted proxies."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest
from pydantic import ValidationError

from common.forwarded import (
    ForwardedTrust,
    NonceCache,
    ProofError,
    check_proof,
    client_from_chain,
    is_trusted,
    parse_networks,
    sign_proof,
)
from common.settings import Settings

KEY = b"k" * 32
NOW = 1_700_000_000.0
REQUEST: dict[str, Any] = {
    "address": "203.0.113.5",
    "method": "POST",
    "target": b"/login?a=1",
    "body": b'{"username": "alice", "password": "x"}',
}


def _proof(**changes: Any) -> str:
    return sign_proof(KEY, **(REQUEST | {"now": NOW} | changes))


def test_a_proof_holds_for_exactly_its_request() -> None:
    proof = _proof(nonce="n" * 16)
    assert proof.startswith(f"v1.{int(NOW)}.{'n' * 16}.")
    assert check_proof(KEY, proof, **REQUEST, now=NOW) == ("n" * 16, int(NOW))


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("address", "203.0.113.6"),
        ("address", "203.0.113.5 "),
        ("method", "PUT"),
        ("target", b"/login"),
        ("target", b"/login?a=2"),
        ("target", b"/internal/mode?a=1"),
        ("body", b""),
        ("body", b'{"username": "alice", "password": "y"}'),
    ],
)
def test_changing_any_covered_field_breaks_the_proof(field: str, value: Any) -> None:
    with pytest.raises(ProofError, match="does not match"):
        check_proof(KEY, _proof(), **(REQUEST | {field: value}), now=NOW)


def test_another_key_or_a_changed_stamp_or_nonce_breaks_the_proof() -> None:
    proof = _proof()
    with pytest.raises(ProofError, match="does not match"):
        check_proof(b"other key", proof, **REQUEST, now=NOW)
    version, stamp, nonce, mac = proof.split(".")
    for forged in (
        f"{version}.{int(stamp) + 1}.{nonce}.{mac}",
        f"{version}.{stamp}.{'A' if nonce[0] != 'A' else 'B'}{nonce[1:]}.{mac}",
        f"{version}.{stamp}.{nonce}.{'A' if mac[0] != 'A' else 'B'}{mac[1:]}",
    ):
        with pytest.raises(ProofError, match="does not match"):
            check_proof(KEY, forged, **REQUEST, now=NOW)


@pytest.mark.parametrize(
    "proof",
    [
        "",
        "v1",
        "v2.1700000000.nnnnnnnnnnnnnnnn." + "A" * 43,
        "v1.-1700000000.nnnnnnnnnnnnnnnn." + "A" * 43,
        "v1.1700000000.short." + "A" * 43,
        "v1.1700000000.nnnnnnnnnnnnnnnn." + "A" * 42,
        "v1.1700000000.nnnnnnnnnnnnnnnn." + "A" * 43 + ".x",
        "v1.١٧٠٠٠٠٠٠٠٠.nnnnnnnnnnnnnnnn." + "A" * 43,  # digits, but not ASCII ones
        "gateway-secret",
    ],
)
def test_malformed_proofs_are_refused(proof: str) -> None:
    with pytest.raises(ProofError, match="malformed"):
        check_proof(KEY, proof, **REQUEST, now=NOW)


@pytest.mark.parametrize("skew", [-31.0, 31.0, -3600.0, 1e6])
def test_a_proof_outside_its_window_is_refused(skew: float) -> None:
    with pytest.raises(ProofError, match="window"):
        check_proof(KEY, _proof(), **REQUEST, now=NOW + skew)


@pytest.mark.parametrize("skew", [-30.0, -1.0, 0.0, 29.5, 30.0])
def test_a_proof_within_its_window_holds(skew: float) -> None:
    assert check_proof(KEY, _proof(), **REQUEST, now=NOW + skew)


def test_nonces_differ_between_proofs() -> None:
    assert len({_proof().split(".")[2] for _ in range(100)}) == 100


def test_the_nonce_cache_refuses_a_second_use_and_forgets_expired_ones() -> None:
    cache = NonceCache(size=3)
    assert cache.first_use("a", expires=NOW + 30, now=NOW)
    assert not cache.first_use("a", expires=NOW + 30, now=NOW + 1)
    assert cache.first_use("b", expires=NOW + 31, now=NOW + 1)
    assert cache.first_use("c", expires=NOW + 32, now=NOW + 2)
    assert not cache.first_use("d", expires=NOW + 33, now=NOW + 3)  # full of live nonces
    assert cache.first_use("d", expires=NOW + 61, now=NOW + 30.5)  # "a" has expired
    assert not cache.first_use("b", expires=NOW + 61, now=NOW + 30.5)


def _trust(trusted: str = "") -> ForwardedTrust:
    return ForwardedTrust(KEY, trusted=parse_networks(trusted))


def _address(trust: ForwardedTrust, *, peer: str = "127.0.0.1", **headers: Any) -> str:
    request = REQUEST | {"now": NOW}
    return trust.address(
        peer=peer,
        forwarded=headers.get("forwarded", []),
        proof=headers.get("proof"),
        method=request["method"],
        target=request["target"],
        body=request["body"],
        now=request["now"],
    )


def test_a_proven_address_is_believed_once() -> None:
    trust = _trust()
    proof = _proof()
    assert _address(trust, forwarded=["203.0.113.5"], proof=proof) == "203.0.113.5"
    # The same proof again (a replay) is worth nothing: the peer is the address.
    assert _address(trust, forwarded=["203.0.113.5"], proof=proof) == "127.0.0.1"
    # A fresh proof for the same request is believed.
    assert _address(trust, forwarded=["203.0.113.5"], proof=_proof()) == "203.0.113.5"


@pytest.mark.parametrize(
    ("forwarded", "proof"),
    [
        (["192.0.2.99"], None),  # a client's own claim
        (["192.0.2.99"], "gateway-secret"),
        (["192.0.2.99"], "PROOF"),  # a real proof, for another address
        (["203.0.113.5", "203.0.113.5"], "PROOF"),  # two headers: which one was meant?
        (["203.0.113.5, 192.0.2.1"], "PROOF"),
        ([], "PROOF"),
    ],
)
def test_an_unproven_address_is_not_believed(forwarded: list[str], proof: str | None) -> None:
    real = _proof() if proof == "PROOF" else proof
    assert _address(_trust(), forwarded=forwarded, proof=real) == "127.0.0.1"


def test_a_trusted_proxy_is_believed_without_a_proof() -> None:
    trust = _trust("127.0.0.1, 10.0.0.0/8")
    assert _address(trust, forwarded=["192.0.2.7"]) == "192.0.2.7"
    assert _address(trust, peer="192.0.2.8", forwarded=["192.0.2.7"]) == "192.0.2.8"


@pytest.mark.parametrize(
    ("peer", "forwarded", "expected"),
    [
        ("192.0.2.1", ["198.51.100.1"], "192.0.2.1"),  # an untrusted peer says nothing
        ("127.0.0.1", [], "127.0.0.1"),
        ("127.0.0.1", ["198.51.100.1"], "198.51.100.1"),
        ("127.0.0.1", ["6.6.6.6, 198.51.100.1"], "198.51.100.1"),  # the client wrote 6.6.6.6
        ("127.0.0.1", ["6.6.6.6", "198.51.100.1, 10.1.2.3"], "198.51.100.1"),
        ("127.0.0.1", ["10.0.0.1, 10.0.0.2"], "10.0.0.1"),  # only trusted hops: the farthest
        ("127.0.0.1", ["198.51.100.1, garbage"], "127.0.0.1"),
        ("127.0.0.1", ["6.6.6.6, 10.0.0.9, garbage"], "127.0.0.1"),
        ("::1", ["2001:db8::1"], "2001:db8::1"),
        ("127.0.0.1", ["2001:DB8:0::1"], "2001:db8::1"),  # one spelling per address
    ],
)
def test_the_client_is_the_right_most_untrusted_entry(
    peer: str, forwarded: list[str], expected: str
) -> None:
    trusted = parse_networks("127.0.0.1,::1,10.0.0.0/8")
    assert client_from_chain(peer, forwarded, trusted) == expected


def test_trusted_proxies_parse_addresses_and_networks() -> None:
    assert parse_networks("") == ()
    assert parse_networks(" 127.0.0.1 , 10.0.0.0/8,::1,") == (
        ipaddress.ip_network("127.0.0.1/32"),
        ipaddress.ip_network("10.0.0.0/8"),
        ipaddress.ip_network("::1/128"),
    )
    assert is_trusted("10.9.8.7", parse_networks("10.0.0.0/8"))
    assert not is_trusted("unknown", parse_networks("10.0.0.0/8"))
    for bad in ("localhost", "10.0.0.0/33", "1.2.3.4:80", "127.0.0.1;10.0.0.1"):
        with pytest.raises(ValueError, match="neither an IP address nor a network"):
            parse_networks(bad)


def test_a_bad_trusted_proxy_setting_is_an_error_at_start() -> None:
    with pytest.raises(ValidationError, match="'localhost' is neither"):
        Settings(lab_trusted_proxies="127.0.0.1,localhost")
    assert Settings(lab_trusted_proxies="127.0.0.1").trusted_proxies == parse_networks("127.0.0.1")
