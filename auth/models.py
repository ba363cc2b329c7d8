"""Auth tables and request/response models."""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlmodel import Field as SQLField
from sqlmodel import SQLModel

from auth.password_policy import check_length, normalise_password
from common.attributes import DEFAULT_PLAN, MAX_DISPLAY_NAME, MAX_EMAIL, ProfileChanges


def _now() -> datetime:
    return datetime.now(UTC)


class User(SQLModel, table=True):
    """A registered user; the database generates the integer id."""

    __tablename__ = "users"

    id: int | None = SQLField(default=None, primary_key=True)
    username: str = SQLField(max_length=64)
    username_key: str = SQLField(max_length=256, unique=True, index=True)
    password_hash: str
    active: bool = True
    created_at: datetime = SQLField(default_factory=_now)
    deactivated_at: datetime | None = None
    display_name: str | None = SQLField(default=None, max_length=MAX_DISPLAY_NAME)
    email: str | None = SQLField(default=None, max_length=MAX_EMAIL)
    plan: str = SQLField(default=DEFAULT_PLAN, max_length=8)
    attributes_version: int = 1  # bumped by every change of the attributes


def normalise_username(raw: str) -> str:
    """NFKC-normalise and trim a username."""
    return unicodedata.normalize("NFKC", raw).strip()


def username_key(username: str) -> str:
    """The case-insensitive uniqueness key of a normalised username."""
    return unicodedata.normalize("NFKC", username.casefold())


class Credentials(BaseModel):
    """The body of register and login."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)

    username: str = Field(min_length=1, max_length=256)
    password: str = Field(min_length=8, max_length=1024)

    @field_validator("password")
    @classmethod
    def _password(cls, value: str) -> str:
        return check_length(normalise_password(value))

    @field_validator("username")
    @classmethod
    def _username(cls, value: str) -> str:
        value = normalise_username(value)
        if not 3 <= len(value) <= 64:
            raise ValueError("username must be 3-64 characters after NFKC normalisation")
        if any(unicodedata.category(ch).startswith("C") for ch in value):
            raise ValueError("username must not contain control or format characters")
        return value


class RegisterBody(Credentials, ProfileChanges):
    """The body of register: credentials, and optionally the user's own profile (never the
    plan: a new user gets the default)."""

    model_config = ConfigDict(extra="forbid")

    def attributes(self) -> dict[str, Any]:
        """Every attribute of the new user, defaults filled in."""
        given = self.given()
        return {"display_name": None, "email": None, "plan": DEFAULT_PLAN, **given}


class LoginBody(BaseModel):
    """The body of login: lengths are checked, content is not revealed."""

    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=1, max_length=256)
    password: str = Field(min_length=1, max_length=1024)

    @field_validator("password")
    @classmethod
    def _password(cls, value: str) -> str:
        return normalise_password(value)

    @field_validator("username")
    @classmethod
    def _username(cls, value: str) -> str:
        # No registered name holds one, and a NUL would reach PostgreSQL's driver as an error.
        if any(unicodedata.category(ch) == "Cc" for ch in value):
            raise ValueError("username must not contain control characters")
        return value


class RegisteredBody(BaseModel):
    """The reply to a registration."""

    success: Literal[True] = True
    user_id: int


class TokenBody(BaseModel):
    """The reply to a login: a bearer access token and its lifetime in seconds."""

    success: Literal[True] = True
    token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - the OAuth token type, not a secret
    expires_in: int


class UpdatedBody(BaseModel):
    """The reply to a change of attributes (PATCH /users/me, and the operator's): every
    attribute of the user and their new version."""

    success: Literal[True] = True
    user_id: int
    attributes: dict[str, Any]
    version: int


class FoundUser(BaseModel):
    """The reply to the operator's look-up of a username."""

    user_id: int
    username: str
    active: bool
