"""Latency: each operation's latency and throughput, against floors of the same run."""

from bench.parts.latency.report import section

name = "latency"
fields: tuple[str, ...] = ("floors", "latency", "targets")  # of results.json

__all__ = ["fields", "name", "section"]
