"""User attributes: their names, their rules, and the shape auth and consumers agree on."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictStr,
    ValidationError,
    field_validator,
    model_validator,
)

Plan = Literal["free", "pro"]
NAMES: tuple[str, ...] = ("display_name", "email", "plan")
DEFAULT_PLAN: Plan = "free"
MAX_DISPLAY_NAME = 64
MAX_EMAIL = 254  # RFC 5321's limit on a forward path, less the angle brackets
# Deliberately loose: one @, a dot in the domain, no spaces. Deliverability is not checked.
EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")


class InvalidAttributes(ValueError):
    """Attributes that break the rules; the message is the reason given to the caller."""


class ProfileChanges(BaseModel):
    """The attributes a user may change about themselves: every field optional, unknown fields
    (`plan` among them) refused; `display_name` and `email` may be null to clear them."""

    model_config = ConfigDict(extra="forbid")

    display_name: StrictStr | None = Field(default=None, max_length=MAX_DISPLAY_NAME)
    email: StrictStr | None = Field(default=None, max_length=MAX_EMAIL)

    @field_validator("display_name")
    @classmethod
    def _display_name(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = unicodedata.normalize("NFKC", value).strip()
        if not value:
            raise ValueError("display_name must not be blank")
        # A printable string has no character of category C (isprintable is False for every
        # one of them), so the per-character scan runs only for the rare string that is not.
        if not value.isprintable() and any(
            unicodedata.category(ch).startswith("C") for ch in value
        ):
            raise ValueError("display_name must not contain control or format characters")
        return value

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not EMAIL.match(value):
            raise ValueError("email must look like name@domain.tld")
        return value

    def given(self) -> dict[str, Any]:
        """Only the fields the caller sent (a null included), in NAMES order."""
        sent = self.model_fields_set  # plain str and Literal values: as model_dump gives them
        return {name: getattr(self, name) for name in NAMES if name in sent}


class AttributeChanges(ProfileChanges):
    """Every attribute, as the operator sends them and as tokens and events carry them: the
    profile and the plan, which is the operator's (billing, support) and always one of its
    values."""

    plan: Plan | None = None

    @model_validator(mode="after")
    def _plan_kept(self) -> AttributeChanges:
        if "plan" in self.model_fields_set and self.plan is None:
            raise ValueError("plan cannot be cleared; use free or pro")
        return self


def parse_names(raw: str) -> tuple[str, ...]:
    """The attribute names in a comma-separated setting; raises ValueError on an unknown one."""
    names = tuple(dict.fromkeys(part.strip() for part in raw.split(",") if part.strip()))
    unknown = [name for name in names if name not in NAMES]
    if unknown:
        raise ValueError(f"unknown attribute {unknown[0]!r}; known: {', '.join(NAMES)}")
    return names


def _kept_as_is(name: str, value: Any) -> bool:
    """True if the rules accept `value` unchanged: then the model need not run (it costs more
    than the rest of checking a signed event). Anything else goes through the model."""
    if value is None:
        return name != "plan"
    if type(value) is not str:
        return False
    if name == "plan":
        return value in ("free", "pro")
    if name == "email":
        return len(value) <= MAX_EMAIL and EMAIL.match(value) is not None
    return (
        0 < len(value) <= MAX_DISPLAY_NAME
        and value.isprintable()
        and value == value.strip()
        and unicodedata.is_normalized("NFKC", value)
    )


def checked(values: Mapping[str, Any]) -> dict[str, Any]:
    """Attributes read from a token or an event, checked by the same rules; raises
    InvalidAttributes. Names that are not attributes are ignored."""
    present = {}
    as_is = True
    for name in NAMES:
        if name in values:
            value = present[name] = values[name]
            as_is = as_is and _kept_as_is(name, value)
    if as_is:
        return present
    try:
        return AttributeChanges.model_validate(present).given()
    except ValidationError as exc:
        raise InvalidAttributes(str(exc.errors(include_url=False)[0]["msg"])) from exc
