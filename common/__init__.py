"""Plumbing shared by every process: settings, tokens, databases, Valkey and process control."""
