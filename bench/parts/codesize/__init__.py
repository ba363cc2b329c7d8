"""Code size: the code, processes and settings each mode needs."""

from bench.parts.codesize.report import section

name = "codesize"
fields: tuple[str, ...] = ("codesize",)  # of results.json

__all__ = ["fields", "name", "section"]
