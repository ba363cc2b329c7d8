"""Encrypted tokens: the signed token nested in a JWE (RFC 7516; RFC 7519 section 5.2).

The JWE uses RSA-OAEP-256 key wrapping and A256GCM content encryption, with `cty: JWT` naming the
nested signed token. One key pair serves the one audience: auth encrypts to its public half, and
whoever reads tokens (every service, auth's own /users/me too) holds the private half. Encryption
hides what the token says; it proves nothing about who made it: integrity comes from the
signature inside, which is verified as before. Pure functions: no web, no database.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from joserfc import jwe
from joserfc.errors import JoseError
from joserfc.jwk import RSAKey

from common.settings import Settings, write_private
from common.tokens import MAX_TOKEN_BYTES, TokenError

ALG = "RSA-OAEP-256"
ENC = "A256GCM"
ALGORITHMS = [ALG, ENC]  # joserfc's registry allows exactly these two, nothing else
CONTENT_TYPE = "JWT"
MAX_SEALED_BYTES = 2 * MAX_TOKEN_BYTES  # a JWE grows its payload by a third, plus the wrapped key
KEY_BITS = 2048  # as the signing keys; RFC 7518 asks at least this for RSA-OAEP
REFUSED_HEADERS = ("zip", "crit", "jku", "jwk", "x5u", "x5c")


def is_sealed(token: str) -> bool:
    """True for a JWE compact serialisation (five parts); a JWS has three."""
    return token.count(".") == 4


def ensure_key(path: Path) -> None:
    """Generate the token encryption key pair into path (PEM, mode 0600) if it is missing."""
    if path.exists():
        return
    private = rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    write_private(path, pem.decode(), replace=False)


def load_private(path: Path) -> RSAKey:
    """The decryption key (both halves) from a PEM file."""
    return RSAKey.import_key(path.read_bytes())


def public_half(key: RSAKey) -> RSAKey:
    """The encryption key: the public half only."""
    return RSAKey.import_key(key.as_dict(private=False))


def seal(token: str, public_key: RSAKey) -> str:
    """Nest a signed token in a JWE for the audience that holds the private half."""
    header = {"alg": ALG, "enc": ENC, "cty": CONTENT_TYPE}
    return jwe.encrypt_compact(header, token.encode(), public_key, algorithms=ALGORITHMS)


def unseal(token: str, private_key: RSAKey) -> str:
    """The signed token inside a JWE, not yet verified; raises TokenError for anything that is
    not our JWE: wrong key, other algorithms, tampered parts, no nested JWT."""
    if len(token) > MAX_SEALED_BYTES:
        raise TokenError("malformed", "oversized encrypted token")
    header = _header(token)
    if header.get("alg") != ALG or header.get("enc") != ENC:
        raise TokenError("bad_alg", f"only {ALG} with {ENC} is accepted")
    if str(header.get("cty", "")).upper() != CONTENT_TYPE:
        raise TokenError("not_nested_jwt", "cty must be JWT")
    refused = [name for name in REFUSED_HEADERS if name in header]
    if refused:
        raise TokenError("bad_header", f"{refused[0]} is not supported")
    try:
        plaintext = jwe.decrypt_compact(token, private_key, algorithms=ALGORITHMS).plaintext
    except (JoseError, ValueError, TypeError) as exc:
        raise TokenError("undecryptable", exc.__class__.__name__) from exc
    try:
        inner = (plaintext or b"").decode("ascii")
    except UnicodeDecodeError as exc:
        raise TokenError("not_nested_jwt", "the payload is not a compact JWS") from exc
    if inner.count(".") != 2:
        raise TokenError("not_nested_jwt", "the payload is not a compact JWS")
    return inner


def opener(private_key: RSAKey | None, required: bool) -> Callable[[str], str]:
    """What a verifier applies before verifying: unseal a JWE with this service's key; a plain
    signed token passes through unless encryption is required."""

    def open_token(token: str) -> str:
        if is_sealed(token):
            if private_key is None:
                raise TokenError("undecryptable", "this service holds no decryption key")
            return unseal(token, private_key)
        if required:
            raise TokenError("not_encrypted", "tokens must be encrypted here")
        return token

    return open_token


def settings_opener(settings: Settings) -> Callable[[str], str]:
    """The opener a service's verifier uses: with LAB_TOKEN_ENCRYPT the key pair is generated
    if missing (beside the signing keys) and plain tokens are refused."""
    path = settings.token_encryption_key_path
    if settings.lab_token_encrypt:
        ensure_key(path)
    return opener(load_private(path) if path.exists() else None, settings.lab_token_encrypt)


def settings_sealer(settings: Settings) -> RSAKey | None:
    """The public half auth encrypts tokens to, when LAB_TOKEN_ENCRYPT is on."""
    if not settings.lab_token_encrypt:
        return None
    ensure_key(settings.token_encryption_key_path)
    return public_half(load_private(settings.token_encryption_key_path))


def _header(token: str) -> dict[str, object]:
    first = token.partition(".")[0]
    try:
        raw = base64.urlsafe_b64decode(first + "=" * (-len(first) % 4))
        header = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise TokenError("malformed", "unreadable JWE header") from exc
    if not isinstance(header, dict):
        raise TokenError("malformed", "the JWE header is not an object")
    return header
