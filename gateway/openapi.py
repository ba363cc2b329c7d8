"""The gateway's OpenAPI document, written by hand: the routes it forwards and its own answers."""

from __future__ import annotations

from typing import Any

from common.attributes import ProfileChanges
from common.web import ERROR_MEANINGS, ErrorBody

GATEWAY_ERRORS = {
    400: "the path is not in canonical form (dot segments, encoded slashes, dots or letters, "
    "control characters, an empty segment); never forwarded",
    502: "the service is unreachable or broke the connection",
    504: "the service did not answer in time",
}
BEARER: list[dict[str, list[str]]] = [{"bearer": []}]


def _errors(*codes: int) -> dict[str, Any]:
    ref = {"$ref": "#/components/schemas/ErrorBody"}
    meanings = {**ERROR_MEANINGS, **GATEWAY_ERRORS}
    return {
        str(code): {"description": meanings[code], "content": {"application/json": {"schema": ref}}}
        for code in codes
    }


def _json(description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    body = {"schema": schema or {"type": "object"}}
    return {"description": description, "content": {"application/json": body}}


def _credentials(password_min: int) -> dict[str, Any]:
    props = {
        "username": {"type": "string", "minLength": 1, "maxLength": 256},
        "password": {"type": "string", "minLength": password_min, "maxLength": 1024},
    }
    schema = {
        "type": "object",
        "properties": props,
        "required": ["username", "password"],
        "additionalProperties": False,
    }
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def _profile_changes() -> dict[str, Any]:
    schema = ProfileChanges.model_json_schema()
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def _consumer_get(summary: str) -> dict[str, Any]:
    service = {
        "name": "service",
        "in": "path",
        "required": True,
        "description": "a consumer service; any other name gets 404",
        "schema": {"type": "string", "pattern": "^[A-Za-z0-9_-]+$"},
    }
    return {
        "get": {
            "summary": summary,
            "parameters": [service],
            "security": BEARER,
            "responses": {
                "200": _json("the service's answer"),
                **_errors(400, 401, 403, 404, 502, 503, 504),
            },
        }
    }


def document(services: tuple[str, ...]) -> dict[str, Any]:
    """The OpenAPI 3.1 document of a gateway that forwards to auth and the given services."""
    forwarded = _errors(400, 413, 502, 504)
    paths: dict[str, Any] = {
        "/health": {"get": {"summary": "liveness", "responses": {"200": _json("alive")}}},
        "/auth/register": {
            "post": {
                "summary": "register a user (forwarded to auth)",
                "requestBody": _credentials(8),
                "responses": {
                    "201": _json("registered"),
                    **_errors(409, 422, 429, 503),
                    **forwarded,
                },
            }
        },
        "/auth/login": {
            "post": {
                "summary": "exchange credentials for an access token (forwarded to auth)",
                "requestBody": _credentials(1),
                "responses": {"200": _json("a token"), **_errors(401, 422, 429, 503), **forwarded},
            }
        },
        "/auth/users/me": {
            "patch": {
                "summary": "change the caller's display_name or email (forwarded to auth)",
                "security": BEARER,
                "requestBody": _profile_changes(),
                "responses": {
                    "200": _json("the caller's attributes and their new version"),
                    **_errors(401, 403, 422, 503),
                    **forwarded,
                },
            },
            "delete": {
                "summary": "deactivate the caller (forwarded to auth)",
                "security": BEARER,
                "responses": {
                    "204": {"description": "deactivated"},
                    **_errors(401, 503),
                    **forwarded,
                },
            },
        },
        "/auth/.well-known/jwks.json": {
            "get": {"summary": "public signing keys", "responses": {"200": _json("a JWKS")}}
        },
        "/auth/.well-known/openid-configuration": {
            "get": {"summary": "discovery document", "responses": {"200": _json("metadata")}}
        },
        "/{service}/whoami": _consumer_get("who the caller is to the service"),
        "/{service}/me": _consumer_get("the service's own record for the caller"),
        "/{service}/verify": _consumer_get("token verification alone"),
        "/{service}/internal/status": {
            "get": {
                "summary": "never served here: internal endpoints live on each service's port",
                "parameters": [
                    {
                        "name": "service",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string"},
                    }
                ],
                "responses": _errors(400, 404),
            }
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "discovery-lab gateway",
            "version": "1",
            "description": f"Forwards /auth/* to auth and /{{service}}/* to {', '.join(services)}.",
        },
        "paths": paths,
        "components": {
            "schemas": {"ErrorBody": ErrorBody.model_json_schema()},
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
