"""Write a document as report.md, report.html and its chart files."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from bench.report.blocks import Block, Chart, Heading, chart_file
from bench.report.markdown import to_markdown
from bench.report.page import to_html


def write(blocks: Sequence[Block], out_dir: Path) -> tuple[Path, Path]:
    """Write report.md and report.html (and the charts beside them) into out_dir."""
    out_dir.mkdir(parents=True, exist_ok=True)
    title = next((b.text for b in blocks if isinstance(b, Heading)), "report")
    md_path, html_path = out_dir / "report.md", out_dir / "report.html"
    for block in blocks:
        if isinstance(block, Chart):
            (out_dir / chart_file(block)).write_bytes(block.png)
    md_path.write_text(to_markdown(blocks), encoding="utf-8")
    html_path.write_text(to_html(blocks, title), encoding="utf-8")
    return md_path, html_path
