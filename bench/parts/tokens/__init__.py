"""Tokens: token size and per-call cost of packing attributes and encrypting."""
