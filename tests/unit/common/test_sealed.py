"""Encrypted tokens: a signed token in a JWE opens only with the audience's key, and every
hostile JWE is refused with a TokenError (a 401), never anything else."""

from __future__ import annotations

import base64
import json
import stat
from pathlib import Path

import pytest
from joserfc import jwe
from joserfc.jwk import RSAKey

from common import sealed
from common.tokens import TokenError
from tests.unit.fakes import Keys

pytestmark = pytest.mark.anyio
KEYS = Keys()
PRIVATE = RSAKey.generate_key(2048, private=True)
PUBLIC = sealed.public_half(PRIVATE)


def _reason(token: str, key: RSAKey = PRIVATE) -> str:
    with pytest.raises(TokenError) as caught:
        sealed.unseal(token, key)
    return caught.value.reason


def _jwe(header: dict[str, object], payload: bytes, key: RSAKey = PUBLIC) -> str:
    algorithms = [str(header[name]) for name in ("alg", "enc", "zip") if name in header]
    return jwe.encrypt_compact(header, payload, key, algorithms=algorithms)


def _part(token: str, index: int) -> bytes:
    part = token.split(".")[index]
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


async def test_a_sealed_token_verifies_and_shows_nothing() -> None:
    signed = KEYS.token(41)
    token = sealed.seal(signed, PUBLIC)
    assert sealed.is_sealed(token) and not sealed.is_sealed(signed)
    header = json.loads(_part(token, 0))
    assert header == {"alg": "RSA-OAEP-256", "enc": "A256GCM", "cty": "JWT"}
    assert b"user_id" not in b"".join(_part(token, i) for i in range(5))
    assert sealed.unseal(token, PRIVATE) == signed
    verifier = KEYS.verifier()
    opened: list[str] = []
    opener = sealed.opener(PRIVATE, required=True)

    def counting(token: str) -> str:
        opened.append(token)
        return opener(token)

    verifier.unwrap = counting
    assert (await verifier.verify(token)).user_id == 41
    assert (await verifier.verify(token)).user_id == 41
    assert len(opened) == 1  # decrypted once, then served from the verified-token cache


def test_the_wrong_key_cannot_open_it() -> None:
    token = sealed.seal(KEYS.token(1), PUBLIC)
    other = RSAKey.generate_key(2048, private=True)
    assert _reason(token, other) == "undecryptable"
    assert _reason(token, PUBLIC) == "undecryptable"  # a public half cannot decrypt


@pytest.mark.filterwarnings("ignore:JWE algorithm")
@pytest.mark.parametrize(
    "header",
    [
        {"alg": "RSA-OAEP", "enc": "A256GCM", "cty": "JWT"},
        {"alg": "RSA1_5", "enc": "A256GCM", "cty": "JWT"},
        {"alg": "RSA-OAEP-256", "enc": "A128GCM", "cty": "JWT"},
        {"alg": "RSA-OAEP-256", "enc": "A256CBC-HS512", "cty": "JWT"},
    ],
)
def test_other_algorithms_are_refused(header: dict[str, object]) -> None:
    assert _reason(_jwe(header, KEYS.token(1).encode())) == "bad_alg"


def test_dir_and_none_are_refused() -> None:
    head = base64.urlsafe_b64encode(b'{"alg":"dir","enc":"A256GCM","cty":"JWT"}').decode()
    assert _reason(f"{head.rstrip('=')}..AAAA.AAAA.AAAA") == "bad_alg"
    head = base64.urlsafe_b64encode(b'{"alg":"none","enc":"none"}').decode().rstrip("=")
    assert _reason(f"{head}....") == "bad_alg"


@pytest.mark.parametrize("index", [1, 2, 3, 4])
def test_tampering_with_any_part_is_refused(index: int) -> None:
    parts = sealed.seal(KEYS.token(1), PUBLIC).split(".")
    raw = bytearray(_part(".".join(parts), index))
    raw[len(raw) // 2] ^= 0x01
    parts[index] = base64.urlsafe_b64encode(bytes(raw)).decode().rstrip("=")
    assert _reason(".".join(parts)) == "undecryptable"


def test_a_swapped_protected_header_is_refused() -> None:
    parts = sealed.seal(KEYS.token(1), PUBLIC).split(".")
    header = {"alg": "RSA-OAEP-256", "enc": "A256GCM", "cty": "jwt", "kid": "x"}
    parts[0] = base64.urlsafe_b64encode(json.dumps(header).encode()).decode().rstrip("=")
    assert _reason(".".join(parts)) == "undecryptable"  # the header is GCM's associated data


@pytest.mark.parametrize(
    ("header", "payload", "reason"),
    [
        ({"alg": "RSA-OAEP-256", "enc": "A256GCM", "cty": "JWT"}, b"hello", "not_nested_jwt"),
        (
            {"alg": "RSA-OAEP-256", "enc": "A256GCM", "cty": "JWT"},
            b'{"user_id":1}',
            "not_nested_jwt",
        ),
        (
            {"alg": "RSA-OAEP-256", "enc": "A256GCM", "cty": "JWT"},
            "\u00e9.a.b".encode(),
            "not_nested_jwt",
        ),
        ({"alg": "RSA-OAEP-256", "enc": "A256GCM"}, b"a.b.c", "not_nested_jwt"),
        ({"alg": "RSA-OAEP-256", "enc": "A256GCM", "cty": "json"}, b"a.b.c", "not_nested_jwt"),
        (
            {"alg": "RSA-OAEP-256", "enc": "A256GCM", "cty": "JWT", "zip": "DEF"},
            b"a.b.c",
            "bad_header",
        ),
    ],
)
def test_what_is_inside_must_be_a_signed_token(
    header: dict[str, object], payload: bytes, reason: str
) -> None:
    assert _reason(_jwe(header, payload)) == reason


async def test_a_nested_token_that_is_not_ours_fails_verification() -> None:
    forged = Keys(kid="unit-key").token(1)  # same kid, another key
    verifier = KEYS.verifier()
    verifier.unwrap = sealed.opener(PRIVATE, required=True)
    with pytest.raises(TokenError) as caught:
        await verifier.verify(sealed.seal(forged, PUBLIC))
    assert caught.value.reason == "invalid"


@pytest.mark.parametrize(
    "token",
    [
        "a.b.c.d.e",
        "....",
        "!!!.b.c.d.e",
        base64.urlsafe_b64encode(b"[1]").decode() + ".b.c.d.e",
        "x" * 20_000 + ".b.c.d.e",
        "eyJhbGciOiJSU0EtT0FFUC0yNTYiLCJlbmMiOiJBMjU2R0NNIiwiY3R5IjoiSldUIn0." + "A" * 9000 + "...",
    ],
)
def test_garbage_is_a_token_error(token: str) -> None:
    assert _reason(token) in {"malformed", "undecryptable", "bad_alg"}


def test_plain_tokens_when_required_and_sealed_ones_without_a_key() -> None:
    signed = KEYS.token(1)
    with pytest.raises(TokenError, match="not_encrypted"):
        sealed.opener(PRIVATE, required=True)(signed)
    assert sealed.opener(PRIVATE, required=False)(signed) == signed
    with pytest.raises(TokenError, match="undecryptable"):
        sealed.opener(None, required=False)(sealed.seal(signed, PUBLIC))


def test_the_key_pair_is_generated_once_and_private(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "token-encryption.pem"
    sealed.ensure_key(path)
    first = path.read_bytes()
    sealed.ensure_key(path)
    assert path.read_bytes() == first
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    key = sealed.load_private(path)
    assert sealed.unseal(sealed.seal("a.b.c", sealed.public_half(key)), key) == "a.b.c"
