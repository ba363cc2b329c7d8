"""LAB_TOKEN_ENCRYPT on a real stack: clients get an opaque JWE, services open and verify it."""

from __future__ import annotations

import base64
import json
import stat
from collections.abc import Iterator

import httpx
import pytest
from joserfc.jwk import RSAKey
from typer.testing import CliRunner

import cli
from auth.keys import KeyStore
from common import sealed
from common.tokens import mint_access_token
from lab.isolated import isolated_env
from lab.processes import Stack
from tests.e2e.client import PASSWORD, client, gw


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    state = tmp_path_factory.mktemp("sealed") / "state"
    stack = Stack(env=isolated_env(state, LAB_TOKEN_ENCRYPT="true"))
    try:
        stack.up()
        yield stack
    finally:
        stack.down()


def registered(stack: Stack) -> str:
    """A user whose name and plan (set by the operator) are in their tokens."""
    _, name = client(stack).new_user("s", display_name="Secret Sam")
    assert stack.client().set_plan(name, "pro")["attributes"]["plan"] == "pro"
    return name


def test_clients_get_an_opaque_token_that_every_service_accepts(stack: Stack) -> None:
    token = client(stack).token(registered(stack))
    assert sealed.is_sealed(token)
    header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    assert header == {"alg": "RSA-OAEP-256", "enc": "A256GCM", "cty": "JWT"}
    assert b"Secret Sam" not in token.encode() and "Secret" not in token
    for service in ("profiles", "notifications"):
        r = client(stack).whoami(service, token)
        assert r.status == 200, r.body
        assert r.body["attributes"] == {"display_name": "Secret Sam", "plan": "pro"}
    changed = httpx.patch(  # auth opens the token it sealed
        f"{gw(stack)}/auth/users/me",
        json={"display_name": "Sam"},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert changed.status_code == 200, changed.text
    key = stack.settings.token_encryption_key_path
    assert stat.S_IMODE(key.stat().st_mode) == 0o600


def test_undecryptable_and_plain_tokens_get_401(stack: Stack) -> None:
    token = client(stack).token(registered(stack))
    parts = token.split(".")
    parts[3] = ("B" if parts[3][0] == "A" else "A") + parts[3][1:]
    settings = stack.settings
    active = KeyStore(settings.keys_dir, settings.lab_jwt_alg.value, settings.lab_token_ttl).active
    plain = mint_access_token(
        active,
        user_id=1,
        issuer=settings.lab_issuer,
        audience=settings.lab_audience,
        client_id="x",
        ttl=60,
    )
    ours = sealed.public_half(sealed.load_private(settings.token_encryption_key_path))
    stranger = sealed.public_half(RSAKey.generate_key(2048, private=True))
    cases = {
        ".".join(parts): "undecryptable",
        plain: "not_encrypted",
        sealed.seal("a.b.c", ours): "malformed",  # opens, but holds no signed token
        sealed.seal(plain, stranger): "undecryptable",
        "e30." + "A" * 20_000 + ".a.b.c": "malformed",  # over the size limit
        "e30.a.b.c.d": "bad_alg",
    }
    for bad, reason in cases.items():
        r = client(stack).whoami("profiles", bad)
        assert r.status == 401, (reason, r.body)
        assert r.body["reason"] == reason, r.body


def test_cli_login_says_the_token_is_encrypted(stack: Stack) -> None:
    name = registered(stack)
    env = {"LAB_STATE_DIR": str(stack.state_dir)}
    result = CliRunner().invoke(
        cli.app, ["login", name, "--password", PASSWORD], env=env, prog_name=cli.PROG
    )
    assert result.exit_code == 0, (result.stdout, result.stderr)
    assert sealed.is_sealed(result.stdout.strip())
    assert "encrypted" in result.stderr
