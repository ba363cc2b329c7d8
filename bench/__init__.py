"""The benchmark: code size, latency and consistency under faults, per discovery mode."""
