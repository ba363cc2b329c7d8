"""This part as the catalog sees it: its name, its fields of results.json, its report section."""

from bench.parts.scenarios.report import section
from bench.parts.scenarios.verdict import axes

name = "scenarios"
fields: tuple[str, ...] = ("scenarios",)  # of results.json

__all__ = ["axes", "fields", "name", "section"]
