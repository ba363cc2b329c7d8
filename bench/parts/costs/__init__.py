"""Costs: what the security measures cost: login timing, signing, ACL publish."""
