"""Reliability: faults injected into a running stack, sustained load, and each mode's promise."""
