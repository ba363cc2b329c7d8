"""Costs: what the security measures cost: login timing, signing, ACL publish."""

from bench.parts.costs.report import section

name = "costs"
fields: tuple[str, ...] = ("security",)  # of results.json

__all__ = ["fields", "name", "section"]
