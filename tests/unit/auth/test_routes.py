"""Auth routes in-process: register, login, deactivate and the internal API over a fake
Publisher, with a SQLite file and keys in a temporary state dir."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import valkey.asyncio as avalkey
from fastapi import FastAPI

from auth import store
from auth.app import create_app
from auth.keys import KeyStore
from auth.passwords import build_passwords
from auth.service import AuthService
from auth.throttle import Policy
from common.db import make_engine
from common.settings import Mode, Publish
from common.tokens import Verifier
from tests.unit.fakes import AUDIENCE, INTERNAL, ISSUER, RecordingPublisher, in_process_settings

pytestmark = pytest.mark.anyio

PASSWORD = "correct horse battery"


@pytest.fixture
def publisher() -> RecordingPublisher:
    return RecordingPublisher(Mode.STREAMS, Publish.DIRECT)


@pytest.fixture
async def service(tmp_path: Path, publisher: RecordingPublisher) -> AsyncIterator[AuthService]:
    settings = in_process_settings(tmp_path, Mode.STREAMS, lab_token_ttl=300)
    engine = make_engine(settings.database_url("auth"))
    store.create_schema(engine)
    keys = KeyStore(settings.keys_dir, "RS256", 300)

    async def jwks() -> dict[str, object]:
        return keys.jwks()

    client = avalkey.Valkey(port=1)  # never connected: the fake publisher stands in for Valkey
    yield AuthService(
        settings=settings,
        engine=engine,
        keys=keys,
        valkey=client,
        verifier=Verifier(
            jwks,
            ISSUER,
            AUDIENCE,
            max_lifetime=settings.lab_token_ttl,
            leeway=settings.lab_clock_leeway,
            min_refresh_interval=0.0,
        ),
        publisher=publisher,
        passwords=build_passwords(settings),
        throttle=Policy(),
    )
    await client.aclose()
    engine.dispose()


@pytest.fixture
async def client(tmp_path: Path, service: AuthService) -> AsyncIterator[httpx.AsyncClient]:
    app: FastAPI = create_app(service.settings)
    app.state.service = service
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as c:
        yield c


async def register(client: httpx.AsyncClient, name: str = "alice") -> httpx.Response:
    return await client.post("/register", json={"username": name, "password": PASSWORD})


async def login(client: httpx.AsyncClient, name: str = "alice", password: str = PASSWORD) -> str:
    r = await client.post("/login", json={"username": name, "password": password})
    assert r.status_code == 200, r.text
    token: str = r.json()["token"]
    return token


async def test_register_returns_the_new_id_and_publishes_once(
    client: httpx.AsyncClient, publisher: RecordingPublisher
) -> None:
    r = await register(client)
    assert r.status_code == 201
    assert r.json() == {"success": True, "user_id": 1}
    assert [e.type for e in publisher.staged] == ["user.registered"]
    # the event staged in the transaction, then stamped with the moment it committed
    assert [e.model_copy(update={"commitmono": None}) for e in publisher.committed] == (
        publisher.staged
    )
    assert publisher.committed[0].commitmono is not None
    assert publisher.committed[0].data.user_id == 1
    assert publisher.committed[0].data.username == "alice"


async def test_taken_username_gets_409_regardless_of_case(
    client: httpx.AsyncClient, publisher: RecordingPublisher
) -> None:
    assert (await register(client, "Alice")).status_code == 201
    r = await register(client, "aLICE")
    assert r.status_code == 409
    assert r.json() == {"success": False, "error": "username_taken"}
    assert len(publisher.committed) == 1


@pytest.mark.parametrize(
    "body",
    [
        {"username": "al", "password": PASSWORD},
        {"username": "alice", "password": "short"},
        {"username": "alice"},
        {"username": "alice", "password": PASSWORD, "admin": True},
        {"username": "a\u200bbc", "password": PASSWORD},
        {"username": "x" * 65, "password": PASSWORD},
    ],
)
async def test_invalid_registrations_get_422(
    client: httpx.AsyncClient, publisher: RecordingPublisher, body: dict[str, object]
) -> None:
    r = await client.post("/register", json=body)
    assert r.status_code == 422
    assert r.json()["success"] is False
    assert r.json()["error"] == "invalid_request"
    assert publisher.staged == []


async def test_oversized_body_gets_413(client: httpx.AsyncClient) -> None:
    r = await client.post(
        "/register",
        content=b"{" + b" " * 70_000 + b"}",
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 413
    assert r.json() == {"success": False, "error": "payload_too_large"}


async def test_login_returns_a_bearer_token_the_verifier_accepts(
    client: httpx.AsyncClient, service: AuthService
) -> None:
    await register(client)
    r = await client.post("/login", json={"username": "ALICE", "password": PASSWORD})
    body = r.json()
    assert (body["success"], body["token_type"], body["expires_in"]) == (True, "bearer", 300)
    claims = await service.verifier.verify(body["token"])
    assert claims.user_id == 1
    assert claims.sub == "1"


async def test_every_failed_login_looks_the_same(client: httpx.AsyncClient) -> None:
    await register(client)
    wrong = await client.post("/login", json={"username": "alice", "password": "wrong password"})
    unknown = await client.post("/login", json={"username": "nobody", "password": PASSWORD})
    for r in (wrong, unknown):
        assert r.status_code == 401
        assert r.json() == {"success": False, "error": "invalid_credentials"}


async def test_deactivation_publishes_and_refuses_later_logins(
    client: httpx.AsyncClient, publisher: RecordingPublisher
) -> None:
    await register(client)
    token = await login(client)
    r = await client.delete("/users/me", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 204
    assert [e.type for e in publisher.committed] == ["user.registered", "user.deactivated"]
    again = await client.post("/login", json={"username": "alice", "password": PASSWORD})
    assert again.status_code == 401
    assert (await register(client)).status_code == 409  # the name stays taken


async def test_deactivation_needs_a_valid_token(client: httpx.AsyncClient) -> None:
    r = await client.delete("/users/me", headers={"Authorization": "Bearer nope"})
    assert r.status_code == 401
    assert r.json()["error"] == "invalid_token"


async def test_jwks_and_discovery_document(client: httpx.AsyncClient) -> None:
    jwks = (await client.get("/.well-known/jwks.json")).json()
    assert [k["kid"] for k in jwks["keys"]]
    doc = (await client.get("/.well-known/openid-configuration")).json()
    assert doc["issuer"] == ISSUER
    assert doc["jwks_uri"] == f"{ISSUER}/.well-known/jwks.json"


async def test_status_counts_users_and_shows_the_publisher(client: httpx.AsyncClient) -> None:
    await register(client)
    r = await client.get("/internal/status", headers={"X-Internal-Token": INTERNAL})
    body = r.json()
    assert (body["mode"], body["publish"], body["known_users"]) == ("streams", "direct", 1)
    assert body["recorded"] == 1


async def test_mode_switch_to_lazy_stops_the_publisher(
    client: httpx.AsyncClient, publisher: RecordingPublisher, service: AuthService
) -> None:
    publisher.running = True
    headers = {"X-Internal-Token": INTERNAL}
    r = await client.put("/internal/mode", json={"mode": "lazy"}, headers=headers)
    assert r.status_code == 200
    assert (r.json()["mode"], r.json()["publish"]) == ("lazy", "none")
    assert not publisher.running
    assert service.publisher is not publisher


@pytest.mark.parametrize("body", [{"mode": "gossip"}, {"mode": "streams", "publish": "carrier"}])
async def test_bad_mode_bodies_get_422(
    client: httpx.AsyncClient, service: AuthService, body: dict[str, object]
) -> None:
    r = await client.put("/internal/mode", json=body, headers={"X-Internal-Token": INTERNAL})
    assert r.status_code == 422
    assert r.json()["success"] is False
    assert isinstance(service.publisher, RecordingPublisher)


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 30_000 + b"]" * 30_000,  # deep enough to exhaust a recursive parser, under 64 KiB
        b'{"username": "\xff\xfe", "password": "x"}',
        b"[1, 2, 3]",
        b'"just a string"',
        b"null",
        b'{"username": 5, "password": ["a"]}',
        b'{"username": "alice", "password": "correct horse battery", "admin": true}',
        b'{"username": "' + b"a" * 300 + b'", "password": "correct horse battery"}',
        b'{"username": "alice", "password": "' + b"p" * 2000 + b'"}',
        b'{"username": "alice", "password": "correct horse battery"',
        b"",
    ],
    ids=lambda b: b[:24].decode("latin-1"),
)
@pytest.mark.parametrize("path", ["/register", "/login"])
async def test_bad_bodies_get_a_clear_422(
    client: httpx.AsyncClient, path: str, body: bytes
) -> None:
    r = await client.post(path, content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 422, r.text
    assert r.json()["error"] == "invalid_request"


async def test_control_characters_in_a_new_username_get_422(client: httpx.AsyncClient) -> None:
    body = b'{"username": "al\\u0000ice", "password": "correct horse battery"}'
    r = await client.post("/register", content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 422, r.text


async def test_attribute_changes_publish_user_updated_and_bump_the_version(
    client: httpx.AsyncClient, publisher: RecordingPublisher
) -> None:
    body = {"username": "carol", "password": PASSWORD, "display_name": "Carol", "plan": "pro"}
    assert (await client.post("/register", json=body)).status_code == 201
    assert publisher.committed[-1].data.attributes == {
        "display_name": "Carol",
        "email": None,
        "plan": "pro",
    }
    auth = {"Authorization": f"Bearer {await login(client, 'carol')}"}
    refused = await client.patch("/users/me", json={"plan": "gold"}, headers=auth)
    assert refused.status_code == 422 and len(publisher.committed) == 1  # nothing published
    r = await client.patch("/users/me", json={"email": "c@d.example"}, headers=auth)
    assert r.status_code == 200 and r.json()["version"] == 2
    event = publisher.committed[-1]
    assert event.type == "user.updated" and event.data.version == 2
    assert event.data.changed == ["email"]
    assert event.data.attributes is not None and event.data.attributes["plan"] == "pro"
    assert (await client.delete("/users/me", headers=auth)).status_code == 204
    gone = await client.patch("/users/me", json={"plan": "free"}, headers=auth)
    assert gone.status_code == 403 and gone.json()["error"] == "user_deactivated"
