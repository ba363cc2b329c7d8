"""This part as the catalog sees it: its name, its fields of results.json, its report section."""

from bench.parts.scale.report import section

name = "scale"
fields: tuple[str, ...] = ("replicas", "failover")  # of results.json

__all__ = ["fields", "name", "section"]
