"""This part as the catalog sees it: its name, its fields of results.json, its report section."""

from bench.parts.scale.report import section
from bench.verdict import no_axes as axes

name = "scale"
fields: tuple[str, ...] = ("replicas", "failover")  # of results.json

__all__ = ["axes", "fields", "name", "section"]
