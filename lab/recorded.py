"""The settings that identify a stack: recorded at `up`, owned by the record afterwards."""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import ValidationError

from common.settings import Settings
from lab.valkey_server import redact

# Where the stack is and what it is: a later command that read these from its own environment
# would talk to another stack, or to whatever program holds a default port.
IDENTIFYING: tuple[str, ...] = (
    "lab_state_dir",
    "lab_host",
    "lab_bind_host",
    "lab_gateway_port",
    "lab_auth_port",
    "lab_profiles_port",
    "lab_notifications_port",
    "lab_dashboard_port",
    "valkey_port",
    "valkey_url",
    "lab_valkey",
    "lab_replicas",
    "lab_auth_replicas",
    "auth_database_url",
    "profiles_database_url",
    "notifications_database_url",
    "lab_auth_url",
    "lab_profiles_url",
    "lab_notifications_url",
    "lab_issuer",
    "lab_audience",
    "lab_jwt_alg",
    "lab_token_encrypt",
    "lab_internal_token",
    "lab_gateway_proxy_key",
)
# The running stack's state: `mode` changes it, the environment does not.
STATE: tuple[str, ...] = ("lab_mode", "lab_publish")
# Derived from others when not set: recorded only when given, so that it keeps following them.
DERIVED = frozenset({"lab_issuer"})
_SECRET = frozenset({"lab_internal_token", "lab_gateway_proxy_key"})
OWNED = frozenset(name.upper() for name in (*IDENTIFYING, *STATE))


class Disagreement(ValueError):
    """A setting given to a command that differs from the one the stack was started with."""


def given(environ: Mapping[str, str], names: tuple[str, ...] = IDENTIFYING) -> dict[str, str]:
    """The settings among `names` that the environment sets, by their variable names."""
    upper = {key.upper(): value for key, value in environ.items()}
    return {name.upper(): upper[name.upper()] for name in names if name.upper() in upper}


def outside(environ: Mapping[str, str]) -> dict[str, str]:
    """The environment without the settings a record owns."""
    return {key: value for key, value in environ.items() if key.upper() not in OWNED}


def record(settings: Settings, environ: Mapping[str, str]) -> dict[str, str]:
    """The values to record for a stack started with these settings."""
    recorded = {
        name.upper(): _text(getattr(settings, name))
        for name in IDENTIFYING
        if name not in DERIVED or name.upper() in given(environ)
    }
    recorded["LAB_STATE_DIR"] = str(settings.state_dir)
    recorded["LAB_MODE"] = settings.mode.value
    return recorded


def check(recorded: Settings, wanted: Mapping[str, str], where: str) -> None:
    """Raise Disagreement for the first setting in `wanted` that the recorded stack has not."""
    for key, value in wanted.items():
        name = key.lower()
        try:
            parsed = getattr(Settings.model_validate({name: value}), name)
        except ValidationError as exc:
            raise Disagreement(f"{key}={value!r} is not valid: {exc.errors()[0]['msg']}") from exc
        if name == "lab_state_dir":
            parsed = parsed.resolve()
        running = _text(getattr(recorded, name))
        if _text(parsed) != running:
            raise Disagreement(
                f"{key} is {_shown(name, running)} in the stack at {where}, but "
                f"{_shown(name, _text(parsed))} is given; `down` and `up` again to change it"
            )


def _shown(name: str, text: str) -> str:
    """A value fit for a message: secrets hidden, passwords in URLs masked."""
    if not text:
        return "(empty)"
    return "(hidden)" if name in _SECRET else redact(text)


def _text(value: object) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    return str(getattr(value, "value", value))
