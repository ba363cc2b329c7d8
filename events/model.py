"""CloudEvents 1.0 (JSON structured mode) for user lifecycle events."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from events import names

EventType = Literal["user.registered", "user.deactivated"]


class InvalidEvent(ValueError):
    """A message that is not a valid user event (bad JSON, missing fields)."""


class UserData(BaseModel):
    """The event payload."""

    model_config = ConfigDict(extra="ignore")

    user_id: int = Field(gt=0)
    username: str


class CloudEvent(BaseModel):
    """A CloudEvents 1.0 envelope around UserData."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    specversion: Literal["1.0"] = "1.0"
    id: str = Field(min_length=1, max_length=200)
    source: str = names.SOURCE
    type: EventType
    subject: str
    time: datetime
    datacontenttype: Literal["application/json"] = "application/json"
    data: UserData

    def to_json(self) -> str:
        """Serialise to the structured-mode JSON body."""
        return self.model_dump_json()

    @classmethod
    def parse(cls, raw: bytes | str) -> CloudEvent:
        """Parse a structured-mode JSON body, raising InvalidEvent on anything malformed."""
        try:
            return cls.model_validate_json(raw)
        except ValidationError as exc:
            raise InvalidEvent(str(exc.errors(include_url=False)[:3])) from exc

    @classmethod
    def from_attributes(cls, attributes: dict[str, Any]) -> CloudEvent:
        """Validate decoded attributes, raising InvalidEvent on anything malformed."""
        try:
            return cls.model_validate(attributes)
        except ValidationError as exc:
            raise InvalidEvent(str(exc.errors(include_url=False)[:3])) from exc


def user_event(
    type_: EventType, user_id: int, username: str, *, now: datetime | None = None
) -> CloudEvent:
    """Build a user lifecycle event with a fresh id and the current time."""
    return CloudEvent(
        id=str(uuid.uuid4()),
        type=type_,
        subject=str(user_id),
        time=now or datetime.now(UTC),
        data=UserData(user_id=user_id, username=username),
    )
