"""Event-driven discovery on a real stack: pub/sub, streams, the outbox, hybrid and faults."""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import jwt
import pytest
import valkey
import yaml

from common.settings import Mode, Publish
from common.tokens import SigningKey, generate_private_key
from events import names, signing
from events.model import user_event
from lab.processes import Stack
from tests.e2e.client import PASSWORD, gw
from tests.e2e.client import client as lab
from tests.support import wait_for

CONSUMERS = ("profiles", "notifications")
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def stack(lazy_stack: Stack) -> Stack:
    """The shared stack, in lazy mode; a test switches it to the mode it needs."""
    return lazy_stack


def register(stack: Stack) -> int:
    return lab(stack).new_user("u")[0]


def register_named(stack: Stack) -> tuple[int, str]:
    return lab(stack).new_user("u")


def known(stack: Stack, service: str) -> dict[int, dict[str, Any]]:
    return lab(stack).known(service)


def status(stack: Stack, name: str) -> dict[str, Any]:
    return lab(stack).status(name)


def switch(stack: Stack, mode: Mode, publish: Publish | None = None) -> None:
    stack.set_mode(mode, publish)
    if mode is not Mode.LAZY:
        for service in CONSUMERS:
            wait_for(
                lambda s=service: status(stack, s)["subscriber"] == "connected",
                timeout=10,
                what=f"{service} subscriber",
            )


def all_know(stack: Stack, ids: set[int], timeout: float = 5.0) -> None:
    for service in CONSUMERS:
        wait_for(
            lambda s=service: ids <= set(known(stack, s)),
            timeout=timeout,
            what=f"{service} to know {sorted(ids)}",
        )


def vk(stack: Stack) -> Any:
    return valkey.Valkey.from_url(stack.settings.effective_valkey_url)


@pytest.mark.parametrize("mode", [Mode.PUBSUB, Mode.STREAMS, Mode.HYBRID])
def test_registering_makes_every_consumer_know_the_user(stack: Stack, mode: Mode) -> None:
    switch(stack, mode)
    user_id = register(stack)
    all_know(stack, {user_id}, timeout=2.0)
    for service in CONSUMERS:
        assert known(stack, service)[user_id]["discovered_by"] == "event"
        assert status(stack, service)["last_propagation_ms"] is not None


@pytest.mark.parametrize("mode", [Mode.PUBSUB, Mode.STREAMS, Mode.HYBRID])
def test_consumer_offline_while_users_register(stack: Stack, mode: Mode) -> None:
    switch(stack, mode)
    stack.stop("notifications")
    try:
        users = [register_named(stack) for _ in range(5)]
        ids = {uid for uid, _ in users}
    finally:
        stack.start("notifications")
    # The profiles consumer stayed up and learned everyone.
    wait_for(lambda: ids <= set(known(stack, "profiles")), timeout=5, what="profiles")
    if mode is Mode.PUBSUB:
        wait_for(lambda: status(stack, "notifications")["subscriber"] == "connected", timeout=10)
        # A user registered now still arrives, so the stack is healthy; the 5 never do.
        later = register(stack)
        wait_for(lambda: later in known(stack, "notifications"), timeout=5, what="later user")
        assert not ids & set(known(stack, "notifications"))
        before = status(stack, "notifications")["unknown_user_refusals"]
        for _, name in users:
            r = lab(stack).whoami("notifications", lab(stack).token(name))
            assert r.status == 403 and r.body["error"] == "unknown_user"
        after = status(stack, "notifications")["unknown_user_refusals"]
        assert after - before == 5
    else:
        wait_for(lambda: ids <= set(known(stack, "notifications")), timeout=10, what="catch-up")


@pytest.mark.parametrize("publish", [Publish.DIRECT, Publish.OUTBOX])
def test_valkey_down_while_users_register(stack: Stack, publish: Publish) -> None:
    switch(stack, Mode.STREAMS, publish)
    lost_before = status(stack, "auth")["events_lost"]
    stack.stop("valkey")
    try:
        ids = {register(stack) for _ in range(3)}  # 201 even with Valkey down
        auth = status(stack, "auth")
        if publish is Publish.DIRECT:
            assert auth["events_lost"] - lost_before == 3
        else:
            assert auth["outbox_pending"] >= 3
    finally:
        stack.start("valkey")
    switch(stack, Mode.STREAMS, publish)
    if publish is Publish.OUTBOX:
        all_know(stack, ids, timeout=15)
        wait_for(lambda: status(stack, "auth")["outbox_pending"] == 0, timeout=10)
    else:
        later = register(stack)
        all_know(stack, {later}, timeout=10)
        for service in CONSUMERS:
            assert not ids & set(known(stack, service))


@pytest.mark.parametrize("publish", [Publish.DIRECT, Publish.OUTBOX])
def test_crash_between_commit_and_publish(stack: Stack, publish: Publish) -> None:
    switch(stack, Mode.STREAMS, publish)
    stack.stop("auth")
    stack.env["LAB_FAULT_CRASH_AFTER_COMMIT"] = "true"
    stack.env["LAB_PUBLISH"] = publish.value
    try:
        stack.start("auth")
        name = f"crash-{secrets.token_hex(4)}"
        r = httpx.post(
            f"{gw(stack)}/auth/register", json={"username": name, "password": PASSWORD}, timeout=30
        )
        assert r.status_code == 502  # auth died after the commit, before answering
        wait_for(lambda: stack.pid("auth") is None, timeout=5, what="auth to exit")
    finally:
        stack.env["LAB_FAULT_CRASH_AFTER_COMMIT"] = "false"
        stack.stop("auth")
        stack.start("auth")
    token = lab(stack).token(name)  # the user was committed before the crash
    user_id = jwt.decode(token, options={"verify_signature": False})["user_id"]
    if publish is Publish.OUTBOX:
        all_know(stack, {user_id}, timeout=10)
    else:
        later = register(stack)
        all_know(stack, {later}, timeout=10)
        for service in CONSUMERS:
            assert user_id not in known(stack, service)
            reply = lab(stack).whoami(service, token)
            assert reply.status == 403 and reply.body["error"] == "unknown_user"


def test_pubsub_survives_killed_connection_and_valkey_restart(stack: Stack) -> None:
    switch(stack, Mode.PUBSUB)
    before = {s: status(stack, s)["reconnects"] for s in CONSUMERS}
    client = vk(stack)
    assert client.client_kill_filter(_type="pubsub") >= 2
    client.close()
    for service in CONSUMERS:
        wait_for(
            lambda s=service: (
                status(stack, s)["reconnects"] > before[s]
                and status(stack, s)["subscriber"] == "connected"
            ),
            timeout=10,
            what=f"{service} to resubscribe",
        )
    first = register(stack)
    all_know(stack, {first}, timeout=5)
    stack.stop("valkey")
    stack.start("valkey")
    for service in CONSUMERS:
        wait_for(lambda s=service: status(stack, s)["subscriber"] == "connected", timeout=15)
    second = register(stack)
    all_know(stack, {second}, timeout=5)
    for service in CONSUMERS:
        assert status(stack, service)["reconnects"] >= before[service] + 2


def test_duplicate_and_poison_events(stack: Stack) -> None:
    switch(stack, Mode.STREAMS, Publish.OUTBOX)
    user_id = register(stack)
    all_know(stack, {user_id})
    client = vk(stack)
    entries = client.xrevrange(names.STREAM, count=20)
    raw = next(
        f[b"event"] for _, f in entries if json.loads(f[b"event"])["data"]["user_id"] == user_id
    )
    before = {s: status(stack, s) for s in CONSUMERS}
    dead_before = {s: client.xlen(names.dead_letter(s)) for s in CONSUMERS}
    client.xadd(names.STREAM, {names.STREAM_FIELD: raw})
    client.xadd(names.STREAM, {names.STREAM_FIELD: b"{not json"})
    client.xadd(
        names.STREAM,
        {names.STREAM_FIELD: json.dumps({**json.loads(raw), "data": {"username": "x"}})},
    )
    after_id = register(stack)
    all_know(stack, {after_id})
    for service in CONSUMERS:
        after = status(stack, service)
        assert after["duplicates_ignored"] - before[service]["duplicates_ignored"] >= 1
        assert after["provisioned_records"] - before[service]["provisioned_records"] == 1
    # each consumer group dead-letters both invalid entries, into its own stream
    for service in CONSUMERS:
        stream = names.dead_letter(service)
        wait_for(lambda st=stream, s=service: client.xlen(st) >= dead_before[s] + 2, timeout=5)
        dead = client.xrange(stream)[dead_before[service] :]
        assert sum("invalid event" in f[b"reason"].decode() for _, f in dead) == 2
        assert {f[b"group"] for _, f in dead} == {service.encode()}
    client.close()


def test_deactivation_reaches_consumers_and_is_final(stack: Stack) -> None:
    switch(stack, Mode.HYBRID)
    user_id, name = register_named(stack)
    all_know(stack, {user_id})
    token = lab(stack).token(name)
    assert lab(stack).whoami("profiles", token).status == 200
    r = httpx.delete(f"{gw(stack)}/auth/users/me", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 204
    for service in CONSUMERS:
        wait_for(
            lambda s=service: lab(stack).whoami(s, token).status == 403,
            timeout=5,
            what=f"{service} to refuse",
        )
        assert lab(stack).whoami(service, token).body["error"] == "user_deactivated"
        assert known(stack, service)[user_id]["active"] is False


def test_published_events_match_the_asyncapi_schema(stack: Stack) -> None:
    spec = yaml.safe_load((ROOT / "asyncapi.yaml").read_text())
    schemas = spec["components"]["schemas"]
    schema = {**schemas["UserEvent"], "$defs": schemas}
    schema = json.loads(json.dumps(schema).replace("#/components/schemas/", "#/$defs/"))
    switch(stack, Mode.STREAMS, Publish.DIRECT)
    user_id, name = register_named(stack)
    token = lab(stack).token(name)
    r = httpx.patch(
        f"{gw(stack)}/auth/users/me",
        json={"display_name": "A", "email": "a@b.example"},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert r.status_code == 200, r.text
    assert stack.client().set_plan(name, "pro")["version"] == 3  # the operator's, same event
    client = vk(stack)
    entries = client.xrevrange(names.STREAM, count=50)
    events = []
    for _, fields in entries:
        try:
            events.append(json.loads(fields.get(b"event", b"")))
        except (ValueError, RecursionError):  # nesting deep enough to exhaust json's recursion
            continue  # a poison entry left by another test
    mine = [
        e for e in events if isinstance(e, dict) and e.get("data", {}).get("user_id") == user_id
    ]
    assert {e["type"] for e in mine} == {names.USER_REGISTERED, names.USER_UPDATED}
    for event in mine:
        jsonschema.validate(event, schema, format_checker=jsonschema.FormatChecker())
    # And on the pub/sub channel.
    switch(stack, Mode.PUBSUB)
    pubsub = client.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(names.CHANNEL)
    wait_for(lambda: client.pubsub_numsub(names.CHANNEL)[0][1] >= 3, timeout=5)
    second = register(stack)
    message = wait_for(lambda: pubsub.get_message(timeout=0.1), timeout=5, what="a message")
    event = json.loads(message["data"])
    assert event["data"]["user_id"] == second
    jsonschema.validate(event, schema, format_checker=jsonschema.FormatChecker())
    pubsub.close()
    client.close()


def test_mode_round_trip_is_visible_in_status(stack: Stack) -> None:
    for mode in (Mode.LAZY, Mode.PUBSUB, Mode.STREAMS, Mode.HYBRID, Mode.LAZY):
        stack.set_mode(mode, None)
        rows = {r["name"]: r for r in stack.status()}
        for name in ("auth", *CONSUMERS):
            assert rows[name]["mode"] == mode.value
        expected_publish = (
            "none" if mode is Mode.LAZY else ("outbox" if mode is Mode.HYBRID else "direct")
        )
        assert rows["auth"]["publish"] == expected_publish
        for service in CONSUMERS:
            want = "off" if mode is Mode.LAZY else "connected"
            wait_for(lambda s=service, w=want: status(stack, s)["subscriber"] == w, timeout=10)
    # Lazy again: a new user is discovered on the first call, as before.
    user_id, name = register_named(stack)
    body = lab(stack).whoami("profiles", lab(stack).token(name)).body
    assert body["discovered_by"] == "lazy" and body["user_id"] == user_id


def test_valkey_users_hold_only_their_own_rights(stack: Stack) -> None:
    s = stack.settings
    anonymous = valkey.Valkey(host=s.lab_host, port=s.valkey_port)
    with pytest.raises(valkey.exceptions.AuthenticationError):
        anonymous.ping()
    admin = vk(stack)
    assert "off" in admin.acl_getuser("default")["flags"]
    assert set(admin.acl_users()) == {"default", "admin", "auth", *CONSUMERS}
    denied = valkey.exceptions.NoPermissionError
    for service in CONSUMERS:
        consumer = valkey.Valkey.from_url(s.valkey_url_as(service))
        with pytest.raises(denied):
            consumer.publish(names.CHANNEL, "{}")
        with pytest.raises(denied):
            consumer.xadd(names.STREAM, {names.STREAM_FIELD: "{}"})
        with pytest.raises(denied):
            consumer.xtrim(names.STREAM, maxlen=0)
        with pytest.raises(denied):
            consumer.set("anything", "1")
        assert consumer.xinfo_groups(names.STREAM) is not None  # reading is allowed
        assert consumer.xadd(names.dead_letter(service), {"payload": "{}"})  # its own
        for other in set(CONSUMERS) - {service}:
            with pytest.raises(denied):
                consumer.xadd(names.dead_letter(other), {"payload": "{}"}, maxlen=0)
            with pytest.raises(denied):
                consumer.xtrim(names.dead_letter(other), maxlen=0)
            with pytest.raises(denied):
                consumer.delete(names.dead_letter(other))
        consumer.close()
    publisher = valkey.Valkey.from_url(s.valkey_url_as("auth"))
    with pytest.raises(denied):
        publisher.xrange(names.STREAM)
    with pytest.raises(denied):
        publisher.xadd(names.dead_letter("profiles"), {"payload": "{}"})
    publisher.close()
    admin.close()


@pytest.mark.parametrize("mode", [Mode.PUBSUB, Mode.STREAMS, Mode.HYBRID])
def test_forged_events_sent_with_admin_rights_are_refused_and_counted(
    stack: Stack, mode: Mode
) -> None:
    switch(stack, mode)
    forged_id = 900_000_000 + secrets.randbelow(1_000_000)
    event = user_event(names.USER_REGISTERED, forged_id, "mallory")
    kid = status(stack, "auth")["active_kid"]
    impostor = SigningKey(kid=kid, alg="RS256", private_key=generate_private_key("RS256"))
    forgeries = [event.to_json(), signing.sign(event, impostor)]
    before = {s: status(stack, s)["events_refused"] for s in CONSUMERS}
    client = vk(stack)
    dead_before = {s: client.xlen(names.dead_letter(s)) for s in CONSUMERS}
    for message in forgeries:
        if mode is Mode.PUBSUB:
            client.publish(names.CHANNEL, message)
        else:
            client.xadd(names.STREAM, {names.STREAM_FIELD: message})
    for service in CONSUMERS:
        wait_for(
            lambda s=service: status(stack, s)["events_refused"] - before[s] == len(forgeries),
            timeout=5,
            what=f"{service} to refuse the forgeries",
        )
    genuine = register(stack)  # the bus still works, and the forgeries came first
    all_know(stack, {genuine})
    for service in CONSUMERS:
        assert forged_id not in known(stack, service)
    if mode is not Mode.PUBSUB:
        for service in CONSUMERS:
            dead = client.xrange(names.dead_letter(service))[dead_before[service] :]
            payloads = [f[b"payload"].decode() for _, f in dead]
            assert sum(str(forged_id) in p for p in payloads) == len(forgeries)
    client.close()
