"""Scenarios: who learns of a user, and when, in each scenario."""
