"""This part as the catalog sees it: its name, its fields of results.json, its report section."""

from bench.parts.codesize.report import section
from bench.parts.codesize.verdict import axes

name = "codesize"
fields: tuple[str, ...] = ("codesize",)  # of results.json

__all__ = ["axes", "fields", "name", "section"]
