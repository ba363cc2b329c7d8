"""Latency: each operation's latency and throughput, against floors of the same run."""
