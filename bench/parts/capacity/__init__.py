"""Capacity: a stream catch-up, and a lazy consumer's memory with many users."""
