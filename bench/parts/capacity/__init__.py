"""Capacity: a stream catch-up, and a lazy consumer's memory with many users."""

from bench.parts.capacity.report import section

name = "capacity"
fields: tuple[str, ...] = ("catchup", "memory")  # of results.json

__all__ = ["fields", "name", "section"]
