"""This part as the catalog sees it: its name, its fields of results.json, its report section."""

from bench.parts.tokens.report import section

name = "tokens"
fields: tuple[str, ...] = ("token_costs",)  # of results.json

__all__ = ["fields", "name", "section"]
