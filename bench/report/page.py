"""Blocks as one self-contained HTML page."""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence

from bench.report.blocks import Block, Bullets, Chart, Contents, Heading, Para, T, slug

CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1d1d1f;
max-width:1200px;margin:2em auto;padding:0 1em}
h1{font-size:1.6em}h2{border-bottom:2px solid #ddd;padding-bottom:.2em;margin-top:2em}
table{border-collapse:collapse;margin:.6em 0 1.2em;font-size:13px}
caption{text-align:left;font-weight:600;padding:.2em 0}
th,td{border:1px solid #d0d0d0;padding:.3em .55em;vertical-align:top;text-align:left}
th{background:#f3f4f6}tr:nth-child(even) td{background:#fafafa}
tbody td.win{background:#dff3e4;font-weight:700}tbody td.near{background:#f1f7f2}
.miss{color:#b00020;font-weight:700}tbody td.miss{background:#fdecee}
td.met{color:#1b6e2d;font-weight:600}
td.supported{color:#1b6e2d;font-weight:700}td.partly{color:#a15c00;font-weight:700}
td.contradicted{color:#b00020;font-weight:700}td.unmeasured{color:#666}
figure{margin:1em 0}figure img{max-width:100%;border:1px solid #eee}
figcaption{font-size:12px;color:#555}
section#verdict{background:#fbfbfd;border:1px solid #e3e3ea;padding:0 1em 1em;border-radius:6px}
"""
HTML_SUFFIX = {"win": " ★", "near": " ☆"}


def h_text(text: str) -> str:
    """Escaped text with line breaks kept."""
    return html.escape(text).replace("\n", "<br>")


def h_cell(cell: T, tag: str = "td") -> str:
    """A marked table cell as HTML."""
    cls = f' class="{cell.mark}"' if cell.mark else ""
    return f"<{tag}{cls}>{h_text(cell.text)}{HTML_SUFFIX.get(cell.mark, '')}</{tag}>"


def h_block(block: Block) -> str:
    """One block as HTML."""
    if isinstance(block, Heading):
        anchor = f' id="{html.escape(block.anchor or slug(block.text))}"'
        return f"<h{block.level}{anchor}>{h_text(block.text)}</h{block.level}>"
    if isinstance(block, Contents):
        items = "".join(
            f'<li><a href="#{html.escape(a)}">{h_text(t)}</a></li>' for a, t in block.entries
        )
        return f'<nav id="contents"><strong>Contents</strong><ul>{items}</ul></nav>'

    if isinstance(block, Para):
        cls = f' class="{block.mark}"' if block.mark else ""
        return f"<p{cls}>{h_text(block.text)}</p>"
    if isinstance(block, Bullets):
        items = "".join(f"<li>{h_text(i.text)}</li>" for i in block.items)
        return f"<ul>{items}</ul>"
    if isinstance(block, Chart):
        data = base64.b64encode(block.png).decode("ascii")
        title = html.escape(block.title)
        return (
            f'<figure><img alt="{title}" src="data:image/png;base64,{data}">'
            f"<figcaption>{title}</figcaption></figure>"
        )
    caption = f"<caption>{h_text(block.caption)}</caption>" if block.caption else ""
    head = "".join(f"<th>{h_text(h)}</th>" for h in block.headers)
    body = "".join("<tr>" + "".join(h_cell(c) for c in row) + "</tr>" for row in block.rows)
    return f"<table>{caption}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def to_html(blocks: Sequence[Block], title: str) -> str:
    """The report as one self-contained HTML page; the verdict is wrapped in its own section."""
    parts: list[str] = []
    in_verdict = False
    for block in blocks:
        if isinstance(block, Heading) and block.level <= 2 and in_verdict:
            parts.append("</section>")
            in_verdict = False
        if isinstance(block, Heading) and block.anchor == "verdict":
            parts.append('<section id="verdict">')
            in_verdict = True
            parts.append(f"<h{block.level}>{h_text(block.text)}</h{block.level}>")  # id: section
            continue
        parts.append(h_block(block))
    if in_verdict:
        parts.append("</section>")
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{CSS}</style></head>\n<body>\n"
        + "\n".join(parts)
        + "\n</body></html>\n"
    )


# --- entry points ---
