"""The gateway's hand-written OpenAPI document: what it offers users."""

from __future__ import annotations

from gateway.openapi import document


def test_users_are_offered_their_profile_and_never_the_plan() -> None:
    doc = document(("profiles",))
    body = doc["paths"]["/auth/users/me"]["patch"]["requestBody"]["content"]["application/json"]
    schema = body["schema"]
    assert set(schema["properties"]) == {"display_name", "email"}
    assert schema["additionalProperties"] is False
