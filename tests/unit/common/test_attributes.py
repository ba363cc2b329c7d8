"""User attributes: validation, the claim-names setting, packing into tokens, event shape."""

from __future__ import annotations

from typing import Any

import jwt
import pytest
from pydantic import ValidationError

from common.attributes import AttributeChanges, checked, parse_names
from common.settings import Settings
from common.tokens import (
    SigningKey,
    generate_private_key,
    public_jwk,
    verify_token,
)
from events.model import CloudEvent, InvalidEvent, user_event
from tests.unit.common.token_support import (
    AUD,
    ISS,
    LEEWAY,
    MAX_LIFETIME,
    mint,
    refused,
    sign_raw,
    valid_claims,
)

KEY = SigningKey("k1", "RS256", generate_private_key("RS256"))
KEYS = {"k1": jwt.PyJWK(public_jwk(KEY), algorithm="RS256")}


@pytest.mark.parametrize(
    "body",
    [
        {"nickname": "x"},
        {"display_name": 7},
        {"display_name": ["a"]},
        {"plan": "gold"},
        {"plan": None},
        {"email": "not-an-address"},
        {"email": 5},
        {"display_name": "x" * 65},
        {"display_name": "   "},
        {"display_name": "bell\x07"},
        {"display_name": "zero\u200bwidth"},  # a format character (Cf)
        {"display_name": "private\ue000use"},  # a private-use character (Co)
    ],
)
def test_bad_attributes_are_refused_with_a_reason(body: dict[str, Any]) -> None:
    with pytest.raises(ValidationError) as caught:
        AttributeChanges.model_validate(body)
    assert caught.value.errors()[0]["msg"]


def test_only_sent_attributes_count_and_null_clears() -> None:
    changes = AttributeChanges.model_validate({"plan": "pro", "email": None})
    assert changes.given() == {"email": None, "plan": "pro"}
    assert AttributeChanges.model_validate({}).given() == {}
    assert AttributeChanges.model_validate({"display_name": " Ｅve "}).given() == {
        "display_name": "Eve"
    }
    # not printable, yet not a control or format character: kept
    assert checked({"display_name": "line\u2028break"}) == {"display_name": "line\u2028break"}


def test_claim_names_setting() -> None:
    assert parse_names("plan, display_name,plan") == ("plan", "display_name")
    assert parse_names("") == ()
    with pytest.raises(ValueError, match="unknown attribute"):
        parse_names("plan,password_hash")
    assert Settings(lab_token_claims="").token_claims == ()
    with pytest.raises(ValidationError):
        Settings(lab_token_claims="role")


def test_packed_attributes_survive_verification() -> None:
    token = mint(KEY, attributes={"plan": "pro", "display_name": "Eve"}, attributes_version=3)
    claims = verify_token(
        token, KEYS, issuer=ISS, audience=AUD, max_lifetime=MAX_LIFETIME, leeway=LEEWAY
    )
    assert dict(claims.attributes) == {"display_name": "Eve", "plan": "pro"}
    assert claims.attributes_version == 3
    plain = verify_token(
        mint(KEY), KEYS, issuer=ISS, audience=AUD, max_lifetime=MAX_LIFETIME, leeway=LEEWAY
    )
    assert plain.attributes == {} and plain.attributes_version is None


@pytest.mark.parametrize(
    "extra",
    [
        {"attributes_version": 0, "plan": "pro"},
        {"attributes_version": "2", "plan": "pro"},
        {"attributes_version": True},
        {"attributes_version": 2, "plan": "platinum"},
        {"attributes_version": 2, "display_name": 12},
    ],
)
def test_malformed_packed_attributes_are_refused(extra: dict[str, Any]) -> None:
    token = sign_raw(KEY, {"alg": "RS256", "kid": "k1", "typ": "at+jwt"}, valid_claims(**extra))
    assert refused(token, KEYS).reason == "invalid"


def test_user_updated_needs_attributes_and_version() -> None:
    event = user_event("user.updated", 1, "eve", attributes={"plan": "pro"}, version=2)
    assert CloudEvent.parse(event.to_json()) == event
    missing = user_event("user.deactivated", 1, "eve").attributes()
    assert "attributes" not in missing["data"] and "version" not in missing["data"]
    for data in (
        {"user_id": 1, "username": "eve"},
        {"user_id": 1, "username": "eve", "version": 2},
        {"user_id": 1, "username": "eve", "version": 2, "attributes": {"plan": "gold"}},
        {"user_id": 1, "username": "eve", "version": 2, "attributes": {}, "changed": ["role"]},
    ):
        with pytest.raises(InvalidEvent):
            CloudEvent.from_attributes({**event.attributes(), "data": data})
    assert checked({"plan": "pro", "user_id": 3}) == {"plan": "pro"}
