"""Reliability: each mode under sustained load with faults injected."""

from bench.parts.reliability.report import section

name = "reliability"
fields: tuple[str, ...] = ("reliability",)  # of results.json

__all__ = ["fields", "name", "section"]
