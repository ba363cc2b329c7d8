"""The docs' figures page: a stored run's report, in the report's own rendering, and its run."""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

from bench.document import render

TITLE = "# Measured figures"
NO_RUN = (
    "No run stored yet. `discovery-lab bench` (or `make bench`) writes one to `reports/latest/`;\n"
    "to publish it here, copy its `results.json` into `docs/run/` and run\n"
    "`discovery-lab docs-figures docs/run`, which writes this page from it.\n"
)
CONTENTS = re.compile(r"^\*\*Contents\*\*\n\n(?:- .*\n)+\n?", re.MULTILINE)
CHART = re.compile(r"\]\((chart-[^)]+\.png)\)")


def provenance(raw: dict[str, Any]) -> str:
    """Which run the figures come from: when, at which commit, quick or full."""
    env = raw.get("environment") or {}
    commit = env.get("git_commit") or "unknown"
    dirty = " (with uncommitted changes)" if env.get("git_dirty") else ""
    size = "quick (`--quick`, every part at a reduced size)" if raw.get("quick") else "full"
    parts = ", ".join(raw.get("parts") or []) or "not recorded"
    return (
        f"From the run generated at **{raw.get('generated_at', 'unknown')}**, at commit "
        f"`{commit}`{dirty}; a **{size}** run, parts: {parts}. Written by "
        "`discovery-lab docs-figures` from that run's `results.json`; not edited by hand.\n"
    )


def demoted(markdown: str) -> str:
    """Every heading one level down, so the page keeps one title."""
    return re.sub(r"^(#+) ", r"#\1 ", markdown, flags=re.MULTILINE)


def page(results_dir: Path | None, charts_dir: Path) -> str:
    """The page for the run stored in results_dir (None: no run stored), its charts written
    into charts_dir, which the page names relative to its own folder."""
    if charts_dir.exists():
        shutil.rmtree(charts_dir)  # an earlier run's charts
    if results_dir is None:
        return f"{TITLE}\n\n{NO_RUN}"
    source = results_dir / "results.json"
    raw = json.loads(source.read_text(encoding="utf-8"))
    if raw.get("complete") is False:
        raise ValueError(f"{source} is from an interrupted run; the figures need a complete one")
    with tempfile.TemporaryDirectory() as tmp:
        shutil.copyfile(source, Path(tmp) / "results.json")
        try:
            md_path, _ = render(Path(tmp))
        except ValueError as exc:  # pydantic's ValidationError too: another schema version
            raise ValueError(f"cannot render {source}: {exc}") from exc
        body = md_path.read_text(encoding="utf-8")
        charts = sorted(Path(tmp).glob("chart-*.png"))
        if charts:
            charts_dir.mkdir(parents=True)
        for chart in charts:
            shutil.copyfile(chart, charts_dir / chart.name)
    body = CONTENTS.sub("", body)
    body = CHART.sub(lambda m: f"]({charts_dir.name}/{m.group(1)})", body)
    return f"{TITLE}\n\n{provenance(raw)}\n{demoted(body)}"


def write_page(results_dir: Path | None, out: Path) -> Path:
    """Write the figures page to out, its charts into a folder of the same name beside it."""
    charts_dir = out.with_suffix("")
    out.write_text(page(results_dir, charts_dir), encoding="utf-8")
    return out
