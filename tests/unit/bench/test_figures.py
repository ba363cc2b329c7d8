"""The docs' figures page: written by `discovery-lab docs-figures` from a stored results.json."""

from __future__ import annotations

import json
import re
from pathlib import Path

from typer.testing import CliRunner

from bench.figures import NO_RUN, write_page
from cli import app

FIXTURES = Path(__file__).parent / "fixtures"


def test_without_a_run_the_page_says_so_and_keeps_no_old_charts(tmp_path: Path) -> None:
    out = tmp_path / "figures.md"
    (tmp_path / "figures").mkdir()
    (tmp_path / "figures" / "chart-old.png").write_bytes(b"old")
    write_page(None, out)
    text = out.read_text()
    assert NO_RUN in text and "|" not in text
    assert not (tmp_path / "figures").exists()


def test_the_page_names_its_run_and_holds_the_report(tmp_path: Path) -> None:
    raw = json.loads((FIXTURES / "results.json").read_text())
    out = write_page(FIXTURES, tmp_path / "figures.md")
    text = out.read_text()
    assert raw["generated_at"] in text
    assert raw["environment"]["git_commit"] in text
    assert ("**quick" if raw["quick"] else "**full") in text
    assert "Which mode when" in text and "Verdict" in text
    assert len(re.findall(r"^# ", text, flags=re.MULTILINE)) == 1  # one title; the rest demoted
    assert "**Contents**" not in text  # the site has its own
    charts = re.findall(r"\]\((figures/chart-[^)]+\.png)\)", text)
    assert charts
    for chart in charts:
        assert (tmp_path / chart).stat().st_size > 0, chart


def test_the_command_writes_the_page(tmp_path: Path) -> None:
    out = tmp_path / "figures.md"
    result = CliRunner().invoke(app, ["docs-figures", str(FIXTURES), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "Measured figures" in out.read_text()


def test_an_interrupted_or_missing_run_is_a_clear_error(tmp_path: Path) -> None:
    out = tmp_path / "figures.md"
    runner = CliRunner()
    result = runner.invoke(app, ["docs-figures", str(tmp_path), "--out", str(out)])
    assert result.exit_code == 1 and "no results.json" in result.output
    (tmp_path / "results.json").write_text(json.dumps({"complete": False, "quick": True}))
    result = runner.invoke(app, ["docs-figures", str(tmp_path), "--out", str(out)])
    assert result.exit_code == 1 and "interrupted" in result.output
    assert not out.exists()
    (tmp_path / "results.json").write_text(json.dumps({"schema_version": 1, "quick": "x"}))
    result = runner.invoke(app, ["docs-figures", str(tmp_path), "--out", str(out)])
    assert result.exit_code == 1 and "cannot render" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
