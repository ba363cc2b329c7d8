"""This part as the catalog sees it: its name, its fields of results.json, its report section."""

from bench.parts.latency.report import section

name = "latency"
fields: tuple[str, ...] = ("floors", "latency", "targets")  # of results.json

__all__ = ["fields", "name", "section"]
