"""Scale: replicas on PostgreSQL and failover on a Valkey Cluster."""
