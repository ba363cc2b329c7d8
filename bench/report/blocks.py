"""The document model: headings, paragraphs, bullets, tables and charts, drawn by any renderer."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class T:
    """A piece of text with an optional mark: win, near, miss, met, or a claim status."""

    text: str
    mark: str = ""


@dataclass(frozen=True)
class Heading:
    """A section heading."""

    level: int
    text: str
    anchor: str = ""


@dataclass(frozen=True)
class Para:
    """A paragraph."""

    text: str
    mark: str = ""


@dataclass(frozen=True)
class Bullets:
    """A bullet list."""

    items: list[T]


@dataclass(frozen=True)
class Table:
    """A table of marked cells."""

    headers: list[str]
    rows: list[list[T]]
    caption: str = ""


@dataclass(frozen=True)
class Chart:
    """A PNG chart; markdown points at report.html instead."""

    title: str
    png: bytes = field(repr=False)


@dataclass(frozen=True)
class Contents:
    """A table of contents: (anchor, text) of each section."""

    entries: list[tuple[str, str]]


Block = Heading | Para | Bullets | Table | Chart | Contents


def chart_file(chart: Chart) -> str:
    """The file a chart is saved to beside report.md."""
    return f"chart-{slug(chart.title)}.png"


def slug(text: str) -> str:
    """An anchor or file name from a title: lower case, words joined by hyphens."""
    words = "".join(c if c.isalnum() else " " for c in text.lower()).split()
    return "-".join(words)
