"""Variants: a mode with its publishing, and the one spelling of their labels (`streams+outbox`)."""

from __future__ import annotations

from dataclasses import dataclass

from common.settings import Mode, Publish, default_publish


@dataclass(frozen=True)
class Variant:
    """A mode with its publishing, labelled as in the report."""

    mode: Mode
    publish: Publish | None

    @property
    def label(self) -> str:
        return (
            self.mode.value if self.publish is None else f"{self.mode.value}+{self.publish.value}"
        )

    @classmethod
    def parse(cls, label: str) -> Variant:
        mode, _, publish = label.partition("+")
        return cls(Mode(mode), Publish(publish) if publish else None)

    @classmethod
    def of(cls, mode: str, publish: str | None) -> Variant:
        """The publishing spelled out: the mode's default unless given; lazy publishes nothing."""
        the_mode = Mode(mode)
        if the_mode is Mode.LAZY:
            return cls(the_mode, None)
        return cls(the_mode, Publish(publish) if publish else default_publish(the_mode))
