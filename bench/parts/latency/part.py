"""This part as the catalog sees it: its name, its fields of results.json, its report section."""

from bench.parts.latency.report import section
from bench.parts.latency.verdict import axes

name = "latency"
fields: tuple[str, ...] = ("floors", "latency", "targets")  # of results.json

__all__ = ["axes", "fields", "name", "section"]
