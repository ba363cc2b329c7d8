"""Which mode when: a latency winner is named only when its lead is outside the noise."""

from __future__ import annotations

import statistics
from pathlib import Path

import pytest

from bench.overview import which_mode_when
from bench.results import Results

FIXTURE = Path(__file__).parent / "fixtures" / "results.json"
FASTEST = "the steady call must be as fast as possible"


@pytest.fixture
def results() -> Results:
    return Results.model_validate_json(FIXTURE.read_text(encoding="utf-8"))


def _fastest(results: Results) -> tuple[str, str]:
    row = next(r for r in which_mode_when(results) if r.situation == FASTEST)
    return row.choose, row.figure


def _set_rounds(results: Results, label: str, p50s: list[float]) -> None:
    lat = results.latency[label]
    p50 = statistics.median(p50s) if p50s else lat.steady.p50
    steady = lat.steady.model_copy(update={"p50": p50, "spread_p50": p50s})
    results.latency[label] = lat.model_copy(update={"steady": steady})


def test_a_lead_within_noise_is_a_tie(results: Results) -> None:
    # Stored rounds: streams+outbox has the lowest p50 by 0.02 ms, well inside the round spread.
    choose, figure = _fastest(results)
    assert choose.startswith("tie (within noise): streams+outbox or hybrid+outbox")
    assert "lazy" not in choose  # slower in every paired round: out of the tie
    assert "hybrid+outbox − streams+outbox: 95% CI" in figure


def test_a_lead_outside_the_noise_names_the_winner(results: Results) -> None:
    _set_rounds(results, "streams+outbox", [1.01, 1.0, 0.99])
    choose, figure = _fastest(results)
    assert choose == "streams+outbox"
    assert figure.startswith("p50: streams+outbox 1.00 ms")


def test_without_rounds_to_compare_there_is_no_winner(results: Results) -> None:
    for label in results.latency:
        _set_rounds(results, label, [])
    _set_rounds(results, "lazy", [0.5])
    choose, figure = _fastest(results)
    assert choose.startswith("tie (within noise): lazy or ")
    assert "no interval" in figure
