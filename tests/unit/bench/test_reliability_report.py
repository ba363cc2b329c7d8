"""The report's reliability section: figures, errors by status, memory and each promise shown."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.document import render_results
from bench.results import ReliabilityRun, Results

FIXTURE = Path(__file__).parent / "fixtures" / "results.json"


def _run(variant: str, promised: bool, lost: int) -> dict[str, Any]:
    return {
        "variant": variant,
        "plan": {"duration_s": 12.0, "users": 4, "faults": 2},
        "load": {
            "total": {"requests": 500, "p50_ms": 5, "p99_ms": 900, "rps": 40.0},
            "kinds": {},
            "statuses": {"call 200": 480, "call 502": 3, "register 201": 17},
        },
        "faults": [{"at_s": 4.2, "kind": "kill9", "target": "auth", "back_after_s": 3.1}],
        "rss_mb": [
            {"t_s": 0.0, "auth": 80.0, "valkey": 9.0},
            {"t_s": 0.5, "auth": 95.5, "valkey": 9.5},
            {"t_s": 1.0, "auth": 90.0, "valkey": 9.4},
        ],
        "promise": {
            "promised": promised,
            "kept": lost == 0 or not promised,
            "lost": lost,
            "users": 21,
            "services": {},
        },
    }


def test_reliability_section_shows_every_figure(tmp_path: Path) -> None:
    results = Results.model_validate_json(FIXTURE.read_text(encoding="utf-8"))
    results.reliability = [
        ReliabilityRun.model_validate(_run("streams+outbox", True, 0)),
        ReliabilityRun.model_validate(_run("pubsub+direct", False, 3)),
        ReliabilityRun.model_validate(_run("hybrid+outbox", True, 2)),
    ]
    md_path, html_path = render_results(results, tmp_path, charts=True)
    md = md_path.read_text(encoding="utf-8")
    assert "4. Reliability under sustained load" in md
    assert "call 502 ×3" in md  # errors by status, not hidden
    assert "kill9(auth)@4.2s, back after 3.1s" in md
    assert "none made; 3 of 21 users lost, counted" in md
    assert "BROKEN: 2 of 21 users lost" in md
    assert "| streams+outbox | auth | 80 | 95.5 | 90 |" in md.replace(".0 ", " ")
    html = html_path.read_text(encoding="utf-8")
    assert all(f"RSS over time: {run.variant}" in html for run in results.reliability)


def test_a_run_without_reliability_has_no_section(tmp_path: Path) -> None:
    results = Results.model_validate_json(FIXTURE.read_text(encoding="utf-8"))
    md_path, _ = render_results(results, tmp_path, charts=False)
    assert "Reliability under sustained load" not in md_path.read_text(encoding="utf-8")
