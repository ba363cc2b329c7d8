"""Reliability: each mode under sustained load with faults injected."""
