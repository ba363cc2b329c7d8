"""Scenarios: who learns of a user, and when, in each scenario."""

from bench.parts.scenarios.report import section

name = "scenarios"
fields: tuple[str, ...] = ("scenarios",)  # of results.json

__all__ = ["fields", "name", "section"]
