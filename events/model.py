"""CloudEvents 1.0 (JSON structured mode) for user lifecycle events."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from common import tracing
from common.attributes import NAMES, checked
from events import names

EventType = Literal["user.registered", "user.updated", "user.deactivated"]
TRACE_FIELDS = frozenset({"traceparent", "tracestate"})
# W3C Trace Context: version, trace id, parent span id, flags, in lowercase hex
TRACEPARENT = r"^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$"


class InvalidEvent(ValueError):
    """A message that is not a valid user event (bad JSON, missing fields)."""


class UserData(BaseModel):
    """The event payload."""

    model_config = ConfigDict(extra="ignore")

    user_id: int = Field(gt=0)
    username: str
    # user.registered and user.updated: every attribute at `version`, the per-user counter auth
    # keeps, and (user.updated) which of them this change set. Consumers order by `version`.
    attributes: dict[str, Any] | None = None
    version: int | None = Field(default=None, gt=0)
    changed: list[str] | None = None

    @field_validator("attributes")
    @classmethod
    def _attributes(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        return None if value is None else checked(value)

    @field_validator("changed")
    @classmethod
    def _changed(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and not set(value) <= set(NAMES):
            raise ValueError(f"changed names an unknown attribute; known: {', '.join(NAMES)}")
        return value


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
    # Extension attributes: CLOCK_MONOTONIC in ns (system-wide on one Linux host) at auth's
    # commit of the change and when auth handed the event to Valkey. They time each stage of
    # an event's path across processes; wall-clock `time` is no good for that.
    commitmono: int | None = Field(default=None, ge=0)
    publishmono: int | None = Field(default=None, ge=0)
    # CloudEvents distributed-tracing extension: the W3C trace context of the span that sent
    # the event, set only when tracing is on. Inside what the signature covers, like every
    # attribute but `jws`: nobody on the bus can move a signed event into another trace.
    traceparent: str | None = Field(default=None, pattern=TRACEPARENT)
    tracestate: str | None = Field(default=None, max_length=512)

    @model_validator(mode="after")
    def _update_has_version(self) -> CloudEvent:
        if self.type == names.USER_UPDATED and (
            self.data.version is None or self.data.attributes is None
        ):
            raise ValueError("user.updated must carry attributes and version")
        return self

    def stamped(self, **stamps: int) -> CloudEvent:
        """A copy with the given monotonic stamps (commitmono, publishmono) set."""
        return self.model_copy(update=stamps)

    def attributes(self) -> dict[str, Any]:
        """The event's attributes as JSON values; optional members that are unset are left out."""
        return self.model_dump(mode="json", exclude_none=True)

    def to_json(self, *, trace: bool = True) -> str:
        """Serialise to the structured-mode JSON body; without the trace context if not `trace`
        (the outbox keeps that in columns of its own)."""
        return self.model_dump_json(exclude_none=True, exclude=None if trace else set(TRACE_FIELDS))

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
    type_: EventType,
    user_id: int,
    username: str,
    *,
    now: datetime | None = None,
    attributes: dict[str, Any] | None = None,
    version: int | None = None,
    changed: list[str] | None = None,
) -> CloudEvent:
    """Build a user lifecycle event with a fresh id, the current time and, when tracing is on,
    the current span's trace context."""
    traceparent, tracestate = tracing.current()
    return CloudEvent(
        id=str(uuid.uuid4()),
        type=type_,
        subject=str(user_id),
        time=now or datetime.now(UTC),
        data=UserData(
            user_id=user_id,
            username=username,
            attributes=attributes,
            version=version,
            changed=changed,
        ),
        traceparent=traceparent,
        tracestate=tracestate,
    )
