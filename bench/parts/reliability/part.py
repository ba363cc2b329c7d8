"""This part as the catalog sees it: its name, its fields of results.json, its report section."""

from bench.parts.reliability.report import section

name = "reliability"
fields: tuple[str, ...] = ("reliability",)  # of results.json

__all__ = ["fields", "name", "section"]
