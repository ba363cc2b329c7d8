"""Code size: the code, processes and settings each mode needs."""
