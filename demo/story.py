"""The seed's sequence diagram, played against the running stack, every arrow with its timing."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import jwt

from common.settings import CONSUMER_SERVICES, Settings
from common.tokens import TokenError, keys_from_jwks, verify_token
from lab.client import ClientError, LabClient, Reply


@dataclass
class Step:
    """One arrow of the diagram (depth 0), or what happened inside a process (depth 1)."""

    arrow: str
    what: str
    ms: float | None = None
    status: int | None = None
    depth: int = 0
    detail: dict[str, Any] = field(default_factory=dict)


class Presenter(Protocol):
    """Where the demo's steps go as they happen: a terminal, or nowhere (for --json)."""

    def heading(self, text: str) -> None: ...

    def note(self, text: str) -> None: ...

    def step(self, step: Step) -> None: ...


@dataclass
class Story:
    """One run of the diagram: who registered, and what each service answered at first call."""

    mode: str
    publish: str
    username: str
    user_id: int | None = None
    register_ms: float | None = None
    login_ms: float | None = None
    calls: dict[str, dict[str, Any]] = field(default_factory=dict)
    steps: list[Step] = field(default_factory=list)


@dataclass
class Recorder:
    """Sends each step to the presenter and keeps it."""

    presenter: Presenter
    steps: list[Step] = field(default_factory=list)

    def add(self, step: Step) -> Step:
        self.steps.append(step)
        self.presenter.step(step)
        return step

    def inside(self, process: str, what: str, reply: Reply, phase: str) -> None:
        """A step inside a process, timed by the Server-Timing phase it reported."""
        if phase in reply.timing:
            self.add(Step(process, what, reply.timing[phase], depth=1))


def new_user() -> tuple[str, str]:
    """A fresh username and password for one run."""
    return f"demo-{secrets.token_hex(3)}", secrets.token_urlsafe(12)


def register(rec: Recorder, client: LabClient, name: str, password: str, mode: str) -> Reply:
    """User → gateway → auth: POST /auth/register, and what auth did inside."""
    reply = client.register(name, password)
    body = reply.body if isinstance(reply.body, dict) else {}
    rec.add(Step("User → gateway → auth", "POST /auth/register", reply.ms, reply.status, 0, body))
    rec.inside("auth", "hash the password (argon2id)", reply, "password")
    rec.inside(
        "auth → DB", f"INSERT the user; the DB generates user_id {body.get('user_id')}", reply, "db"
    )
    if mode != "lazy":
        rec.inside("auth → Valkey", "publish user.registered", reply, "publish")
    if reply.status != 201:
        raise ClientError(f"register failed with {reply.status}: {reply.body}")
    return reply


def login(rec: Recorder, client: LabClient, name: str, password: str) -> Reply:
    """User → gateway → auth: POST /auth/login: the DB lookup, the password check, the JWT."""
    reply = client.login(name, password)
    rec.add(Step("User → gateway → auth", "POST /auth/login", reply.ms, reply.status))
    rec.inside("auth → DB", "look up the username", reply, "db")
    rec.inside("auth", "isPasswordValid? (argon2id verify)", reply, "password")
    rec.inside("auth", "jwt_encode({user_id}) with the active signing key", reply, "sign")
    if reply.status != 200:
        raise ClientError(f"login failed with {reply.status}: {reply.body}")
    return reply


def check_token(rec: Recorder, client: LabClient, token: str, settings: Settings) -> None:
    """Decode the token, fetch the JWKS and verify the token with the key its kid names."""
    header = jwt.get_unverified_header(token)
    claims = jwt.decode(token, options={"verify_signature": False})
    rec.add(
        Step(
            "User",
            "localStorage.setItem(token)",
            None,
            None,
            0,
            {"header": header, "claims": claims},
        )
    )
    jwks = client.jwks()
    rec.add(
        Step(
            "User → gateway → auth",
            "GET /auth/.well-known/jwks.json",
            jwks.ms,
            jwks.status,
            0,
            {"kids": [k.get("kid") for k in jwks.body.get("keys", [])]},
        )
    )
    started = time.perf_counter()
    try:
        verify_token(
            token,
            keys_from_jwks(jwks.body),
            issuer=settings.lab_issuer,
            audience=settings.lab_audience,
            max_lifetime=settings.lab_token_ttl,
            leeway=settings.lab_clock_leeway,
        )
        verdict = (
            f"kid {header['kid']} matches a JWKS key ({header['alg']}): signature and claims valid"
        )
    except TokenError as exc:
        verdict = f"kid {header.get('kid')}: NOT verified ({exc.reason})"
    rec.add(
        Step(
            "verifier",
            verdict,
            (time.perf_counter() - started) * 1000,
            None,
            1,
            {"kid": header.get("kid"), "alg": header.get("alg")},
        )
    )


def call(
    rec: Recorder, client: LabClient, service: str, token: str, registered_at: float | None = None
) -> dict[str, Any]:
    """User → gateway → service: GET /whoami, and how the service knew the user, or did not."""
    reply = client.call(service, "/whoami", token)
    body = reply.body if isinstance(reply.body, dict) else {"body": reply.body}
    rec.add(
        Step(
            f"User → gateway → {service}", f"GET /{service}/whoami", reply.ms, reply.status, 0, body
        )
    )
    rec.inside(service, "verify the token with the cached JWKS", reply, "verify")
    discover = reply.timing.get("discover")
    if reply.status == 200 and body.get("discovered_by") == "lazy" and body.get("first_call"):
        rec.add(
            Step(
                service,
                f"first sight of user_id {body['user_id']}: provision it now (just-in-time)",
                discover,
                depth=1,
            )
        )
    elif reply.status == 200 and body.get("discovered_by") == "event":
        rec.add(
            Step(
                service,
                f"knew user_id {body['user_id']} already, from the user.registered "
                f"event{_after(body.get('known_since'), registered_at)}",
                discover,
                depth=1,
            )
        )
    elif reply.status == 403:
        rec.add(Step(service, f"refused: {body.get('error')}", discover, depth=1))
    return {
        "status": reply.status,
        "ms": round(reply.ms, 1),
        **{k: body[k] for k in ("discovered_by", "first_call", "error") if k in body},
    }


def _after(known_since: str | None, registered_at: float | None) -> str:
    if not known_since or registered_at is None:
        return ""
    gap = (datetime.fromisoformat(known_since).timestamp() - registered_at) * 1000
    when = "before" if gap < 0 else "after"
    return f", stored {abs(gap):.0f} ms {when} the registration returned"


def tell(
    client: LabClient, settings: Settings, mode: str, publish: str, presenter: Presenter
) -> Story:
    """Register, log in, check the token against the JWKS, then call every service once."""
    rec = Recorder(presenter)
    name, password = new_user()
    story = Story(mode, publish, name, steps=rec.steps)
    reply = register(rec, client, name, password, mode)
    registered_at = time.time()
    story.user_id, story.register_ms = int(reply.body["user_id"]), reply.ms
    reply = login(rec, client, name, password)
    story.login_ms = reply.ms
    token = str(reply.body["token"])
    check_token(rec, client, token, settings)
    for service in CONSUMER_SERVICES:
        story.calls[service] = call(rec, client, service, token, registered_at)
    return story
