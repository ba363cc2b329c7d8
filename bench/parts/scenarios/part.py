"""This part as the catalog sees it: its name, its fields of results.json, its report section."""

from bench.parts.scenarios.report import section

name = "scenarios"
fields: tuple[str, ...] = ("scenarios",)  # of results.json

__all__ = ["fields", "name", "section"]
