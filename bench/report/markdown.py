"""Blocks as markdown; charts are the PNG files saved beside it."""

from __future__ import annotations

import html
from collections.abc import Sequence

from bench.report.blocks import Block, Bullets, Chart, Contents, Heading, Para, T, chart_file

MD_MARKS = {"win": "**{}** ★", "near": "{} ☆", "miss": "**{}** [MISS]", "met": "{} [met]"}


def md_text(text: str) -> str:
    """Text made safe for a markdown table cell."""
    escaped = html.escape(text, quote=False).replace("|", "\\|")
    return escaped.replace("\n", "<br>")


def md_cell(cell: T) -> str:
    """A marked cell as markdown."""
    return MD_MARKS.get(cell.mark, "{}").format(md_text(cell.text))


def md_block(block: Block) -> str:
    """One block as markdown."""
    if isinstance(block, Heading):
        return f"{'#' * block.level} {md_text(block.text)}"
    if isinstance(block, Para):
        return md_cell(T(block.text, block.mark))
    if isinstance(block, Bullets):
        return "\n".join(f"- {md_cell(item)}" for item in block.items)
    if isinstance(block, Chart):
        return f"![{md_text(block.title)}]({chart_file(block)})"
    if isinstance(block, Contents):
        return "**Contents**\n\n" + "\n".join(
            f"- [{md_text(text)}](#{anchor})" for anchor, text in block.entries
        )
    lines = [f"**{md_text(block.caption)}**", ""] if block.caption else []
    lines.append("| " + " | ".join(md_text(h) for h in block.headers) + " |")
    lines.append("|" + "---|" * len(block.headers))
    lines += ["| " + " | ".join(md_cell(c) for c in row) + " |" for row in block.rows]
    return "\n".join(lines)


def to_markdown(blocks: Sequence[Block]) -> str:
    """The report as markdown; charts are the PNG files saved beside it."""
    return "\n\n".join(md_block(b) for b in blocks) + "\n"
