"""This part as the catalog sees it: its name, its fields of results.json, its report section."""

from bench.parts.codesize.report import section

name = "codesize"
fields: tuple[str, ...] = ("codesize",)  # of results.json

__all__ = ["fields", "name", "section"]
