"""The latest benchmark report, read from its finished files (the product never imports bench/)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

_VERDICT = re.compile(r'<section id="verdict">(.*?)</section>', re.DOTALL)
_IMAGE = re.compile(r'<img [^>]*src="(data:image/png;base64,[A-Za-z0-9+/=]+)"[^>]*>')
_SCRIPT = re.compile(r"<script.*?</script>", re.DOTALL | re.IGNORECASE)


def latest_html(folder: Path) -> Path | None:
    """The full report page, when a finished report exists."""
    path = folder / "report.html"
    return path if path.is_file() else None


def summary(folder: Path, max_charts: int = 6) -> dict[str, Any]:
    """The verdict section and the charts of the latest report, or {"exists": False}."""
    path = latest_html(folder)
    if path is None:
        return {"exists": False, "where": str(folder)}
    html = path.read_text(errors="replace")
    found = _VERDICT.search(html)
    verdict = _SCRIPT.sub("", found.group(1)) if found else "<p>(the report has no verdict)</p>"
    charts = list(_IMAGE.findall(html))[:max_charts]
    return {
        "exists": True,
        "folder": str(folder.resolve().name),
        "verdict_html": verdict,
        "charts": charts,
    }
