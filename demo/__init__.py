"""The architecture-review demo: the seed's diagram live, the "what if" acts, the comparison."""
