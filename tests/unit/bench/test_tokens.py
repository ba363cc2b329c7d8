"""Token costs in process, and the packing verdict built from a run's figures."""

from __future__ import annotations

from pathlib import Path

import bench.parts.tokens.report as tokenreport
from bench.document import document
from bench.parts.scenarios.names import ScenarioId
from bench.parts.tokens import measure as tokencost
from bench.report import to_markdown
from bench.results import Results, Scenario, ScenarioRun

FIXTURE = Path(__file__).parent / "fixtures" / "results.json"


RESULTS = Results.model_validate_json(FIXTURE.read_text(encoding="utf-8"))


def _run(label: str, **figures: object) -> ScenarioRun:
    return RESULTS.scenarios[0].runs[label].model_copy(update={"figures": figures})


def test_packing_more_makes_tokens_bigger_and_encryption_bigger_still() -> None:
    costs = tokencost.measure(5)
    sizes = [p.token_bytes for p in costs.points]
    assert sizes == sorted(sizes) and len(set(sizes)) == len(sizes)
    assert next(p.attribute_bytes for p in costs.points) == 0
    assert all(p.sealed_bytes > p.token_bytes and p.verify_us > 0 for p in costs.points)
    assert 120 < costs.header_bytes_per_100_bytes < 150  # base64url: 4 bytes per 3


def test_the_verdict_names_the_condition_from_the_figures() -> None:
    results = RESULTS
    change = Scenario(
        id=ScenarioId.ATTRIBUTE_CHANGE,
        title="Attribute change",
        question="?",
        runs={
            "lazy": _run(
                "lazy",
                still_stale_after_window=6,
                window_s=2.0,
                stale_without_login_up_to_s=900,
            ),
            "streams+outbox": _run(
                "streams+outbox", new_value_max_s=0.25, still_stale_after_window=0
            ),
        },
    )
    measured = results.model_copy(
        update={"scenarios": [*results.scenarios, change], "token_costs": tokencost.measure(5)}
    )
    text = tokenreport.packing_verdict(measured)
    assert "up to 900s" in text and "within 0.250s" in text and "streams+outbox" in text
    assert "holds for attributes that may be stale for one token lifetime (900s)" in text
    report = to_markdown(document(measured, charts=False))
    assert "## Tokens: packing attributes and encrypting" in report
    assert "integrity and origin still come only from the signature" in report
    assert tokenreport.packing_verdict(results) == "Not measured in this run."
