"""Auth routes in-process: register, login, attributes, deactivate and the internal API (the
operator's changes included) over a fake Publisher, with a SQLite file and keys in a temporary
state dir."""

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
from tests.unit.fakes import (
    AUDIENCE,
    INTERNAL,
    ISSUER,
    KeysCopier,
    RecordingPublisher,
    in_process_settings,
)

pytestmark = pytest.mark.anyio

PASSWORD = "correct horse battery"


@pytest.fixture
def publisher() -> RecordingPublisher:
    return RecordingPublisher(Mode.STREAMS, Publish.DIRECT)


@pytest.fixture
async def service(
    tmp_path: Path, publisher: RecordingPublisher, signing_keys: KeysCopier
) -> AsyncIterator[AuthService]:
    settings = in_process_settings(tmp_path, Mode.STREAMS, lab_token_ttl=300)
    engine = make_engine(settings.database_url("auth"))
    store.create_schema(engine)
    signing_keys(settings.keys_dir)
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


async def test_control_characters_in_a_login_name_get_422(client: httpx.AsyncClient) -> None:
    body = b'{"username": "al\\u0000ice", "password": "correct horse battery"}'
    r = await client.post("/login", content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 422 and r.json()["error"] == "invalid_request", r.text


OPERATOR = {"X-Internal-Token": INTERNAL}


async def test_attribute_changes_publish_user_updated_and_bump_the_version(
    client: httpx.AsyncClient, publisher: RecordingPublisher
) -> None:
    body = {"username": "carol", "password": PASSWORD, "display_name": "Carol"}
    assert (await client.post("/register", json=body)).status_code == 201
    assert publisher.committed[-1].data.attributes == {
        "display_name": "Carol",
        "email": None,
        "plan": "free",
    }
    auth = {"Authorization": f"Bearer {await login(client, 'carol')}"}
    refused = await client.patch("/users/me", json={"email": "not an email"}, headers=auth)
    assert refused.status_code == 422 and len(publisher.committed) == 1  # nothing published
    r = await client.patch("/users/me", json={"email": "c@d.example"}, headers=auth)
    assert r.status_code == 200 and r.json()["version"] == 2
    event = publisher.committed[-1]
    assert event.type == "user.updated" and event.data.version == 2
    assert event.data.changed == ["email"]
    assert event.data.attributes is not None and event.data.attributes["plan"] == "free"
    assert (await client.delete("/users/me", headers=auth)).status_code == 204
    gone = await client.patch("/users/me", json={"display_name": "C"}, headers=auth)
    assert gone.status_code == 403 and gone.json()["error"] == "user_deactivated"


@pytest.mark.parametrize("plan", ["pro", "free", None, "gold"])
async def test_a_user_never_sets_a_plan(
    client: httpx.AsyncClient, publisher: RecordingPublisher, plan: str | None
) -> None:
    body = {"username": "dave", "password": PASSWORD, "plan": plan}
    r = await client.post("/register", json=body)
    assert r.status_code == 422, r.text
    assert r.json()["error"] == "invalid_request"
    assert {"loc": ["body", "plan"], "msg": "Extra inputs are not permitted"} in r.json()["detail"]
    assert (await register(client, "dave")).status_code == 201  # the name was not taken
    auth = {"Authorization": f"Bearer {await login(client, 'dave')}"}
    for change in ({"plan": plan}, {"plan": plan, "display_name": "Dave"}):
        r = await client.patch("/users/me", json=change, headers=auth)
        assert r.status_code == 422, r.text
        assert r.json()["detail"] == [
            {"loc": ["body", "plan"], "msg": "Extra inputs are not permitted"}
        ]
    assert [e.type for e in publisher.committed] == ["user.registered"]
    assert publisher.committed[0].data.attributes == {
        "display_name": None,
        "email": None,
        "plan": "free",
    }


async def test_the_operator_changes_a_plan_with_the_users_own_versioning_and_event(
    client: httpx.AsyncClient, publisher: RecordingPublisher, service: AuthService
) -> None:
    user_id = (await register(client, "erin")).json()["user_id"]
    auth = {"Authorization": f"Bearer {await login(client, 'erin')}"}
    own = await client.patch("/users/me", json={"display_name": "Erin"}, headers=auth)
    assert own.json()["version"] == 2
    r = await client.patch(f"/internal/users/{user_id}", json={"plan": "pro"}, headers=OPERATOR)
    assert r.status_code == 200, r.text
    assert r.json() == {
        "success": True,
        "user_id": user_id,
        "attributes": {"display_name": "Erin", "email": None, "plan": "pro"},
        "version": 3,
    }
    event = publisher.committed[-1]
    assert publisher.staged[-1] == event.model_copy(update={"commitmono": None})
    assert event.type == "user.updated" and event.commitmono is not None
    assert (event.data.user_id, event.data.username, event.data.version) == (user_id, "erin", 3)
    assert event.data.changed == ["plan"]
    assert event.data.attributes == {"display_name": "Erin", "email": None, "plan": "pro"}
    both = {"plan": "free", "email": "e@f.example"}
    again = await client.patch(f"/internal/users/{user_id}", json=both, headers=OPERATOR)
    assert again.json()["version"] == 4 and publisher.committed[-1].data.changed == [
        "email",
        "plan",
    ]
    claims = await service.verifier.verify(await login(client, "erin"))
    assert claims.attributes == {"display_name": "Erin", "plan": "free"}
    assert claims.attributes_version == 4


async def test_the_operator_route_refuses_unknown_and_deactivated_users(
    client: httpx.AsyncClient, publisher: RecordingPublisher
) -> None:
    user_id = (await register(client, "frank")).json()["user_id"]
    unknown = await client.patch("/internal/users/999", json={"plan": "pro"}, headers=OPERATOR)
    assert unknown.status_code == 404
    assert unknown.json() == {"success": False, "error": "unknown_user"}
    token = await login(client, "frank")
    await client.delete("/users/me", headers={"Authorization": f"Bearer {token}"})
    gone = await client.patch(f"/internal/users/{user_id}", json={"plan": "pro"}, headers=OPERATOR)
    assert gone.status_code == 409
    assert gone.json() == {"success": False, "error": "user_deactivated"}
    assert [e.type for e in publisher.committed] == ["user.registered", "user.deactivated"]


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("0", {"plan": "pro"}),
        ("-1", {"plan": "pro"}),
        ("007", {"plan": "pro"}),
        ("+1", {"plan": "pro"}),
        ("1.0", {"plan": "pro"}),
        ("1_0", {"plan": "pro"}),
        ("0x1", {"plan": "pro"}),
        ("%201", {"plan": "pro"}),
        ("abc", {"plan": "pro"}),
        ("9223372036854775808", {"plan": "pro"}),
        ("9" * 5000, {"plan": "pro"}),
        ("1", {}),
        ("1", {"plan": "gold"}),
        ("1", {"plan": None}),
        ("1", {"role": "admin"}),
        ("1", {"display_name": 7}),
        ("1", ["plan", "pro"]),
    ],
)
async def test_bad_operator_changes_get_422_and_change_nothing(
    client: httpx.AsyncClient, publisher: RecordingPublisher, path: str, body: object
) -> None:
    await register(client, "grace")
    r = await client.patch(f"/internal/users/{path}", json=body, headers=OPERATOR)
    assert r.status_code == 422, r.text
    assert r.json()["error"] == "invalid_request" and r.json()["detail"]
    assert [e.type for e in publisher.committed] == ["user.registered"]


async def test_the_largest_id_is_well_formed_but_unknown(client: httpx.AsyncClient) -> None:
    top = 2**63 - 1
    r = await client.patch(f"/internal/users/{top}", json={"plan": "pro"}, headers=OPERATOR)
    assert r.status_code == 404 and r.json()["error"] == "unknown_user"


@pytest.mark.parametrize("headers", [{}, {"X-Internal-Token": "wrong"}])
async def test_the_operator_routes_need_the_internal_token(
    client: httpx.AsyncClient, publisher: RecordingPublisher, headers: dict[str, str]
) -> None:
    user_id = (await register(client, "heidi")).json()["user_id"]
    r = await client.patch(f"/internal/users/{user_id}", json={"plan": "pro"}, headers=headers)
    assert r.status_code == 401 and r.json()["success"] is False
    found = await client.get("/internal/users", params={"username": "heidi"}, headers=headers)
    assert found.status_code == 401
    assert [e.type for e in publisher.committed] == ["user.registered"]


async def test_the_operator_looks_a_name_up_the_way_login_compares_it(
    client: httpx.AsyncClient,
) -> None:
    user_id = (await register(client, "Ivan")).json()["user_id"]
    for name in ("Ivan", "IVAN", "ivan", "Ｉｖａｎ"):
        r = await client.get("/internal/users", params={"username": name}, headers=OPERATOR)
        assert r.status_code == 200, (name, r.text)
        assert r.json() == {"user_id": user_id, "username": "Ivan", "active": True}
    token = await login(client, "ivan")
    await client.delete("/users/me", headers={"Authorization": f"Bearer {token}"})
    r = await client.get("/internal/users", params={"username": "ivan"}, headers=OPERATOR)
    assert r.json()["active"] is False
    missing = await client.get("/internal/users", params={"username": "ivy"}, headers=OPERATOR)
    assert missing.status_code == 404
    assert missing.json() == {"success": False, "error": "unknown_user"}


@pytest.mark.parametrize("query", ["", "?username=", "?username=a%00b", "?username=" + "x" * 257])
async def test_bad_look_ups_get_422(client: httpx.AsyncClient, query: str) -> None:
    r = await client.get(f"/internal/users{query}", headers=OPERATOR)
    assert r.status_code == 422, r.text
    assert r.json()["error"] == "invalid_request" and r.json()["detail"]
