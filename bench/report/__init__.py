"""Draws documents, tables and charts as markdown, HTML and PNG; it knows no measurement."""

from bench.report.blocks import (
    Block,
    Bullets,
    Chart,
    Contents,
    Heading,
    Para,
    T,
    Table,
    chart_file,
    slug,
)
from bench.report.fmt import flatten, fmt_num, fmt_s, fmt_value
from bench.report.markdown import to_markdown
from bench.report.page import to_html
from bench.report.write import write

__all__ = [
    "Block",
    "Bullets",
    "Chart",
    "Contents",
    "Heading",
    "Para",
    "T",
    "Table",
    "chart_file",
    "flatten",
    "fmt_num",
    "fmt_s",
    "fmt_value",
    "slug",
    "to_html",
    "to_markdown",
    "write",
]
