"""Scale: replicas on PostgreSQL and failover on a Valkey Cluster."""

from bench.parts.scale.report import section

name = "scale"
fields: tuple[str, ...] = ("replicas", "failover")  # of results.json

__all__ = ["fields", "name", "section"]
