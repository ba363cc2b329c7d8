"""Tokens: token size and per-call cost of packing attributes and encrypting."""

from bench.parts.tokens.report import section

name = "tokens"
fields: tuple[str, ...] = ("token_costs",)  # of results.json

__all__ = ["fields", "name", "section"]
