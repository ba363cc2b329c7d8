"""The live demo page of a running stack, and its control API."""
