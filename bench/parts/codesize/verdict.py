"""Code size in the verdict: the size rows, and the claim of radically less code."""

from __future__ import annotations

import math
from collections.abc import Callable

from bench.results import CodeSize, Results
from bench.verdict import (
    LAZY,
    Axis,
    Cell,
    Claim,
    Contribution,
    Status,
    cost_columns,
    make_axis,
    num,
)

# "Radically" less code: every event mode needs at least this many times lazy's SLOC.
RADICAL_RATIO = 1.5


def codesize_of(results: Results, column: str) -> CodeSize | None:
    """The code size of a cost column."""
    return results.codesize.get(column)


def _size_axis(results: Results, label: str, fn: Callable[[CodeSize], Cell]) -> Axis:
    cells = {
        c: fn(size) if (size := codesize_of(results, c)) else Cell("n/a")
        for c in cost_columns(results)
    }
    return make_axis(label, "lower", cells)


def _ratio_text(base: float, other: float) -> str:
    return f"{other / base:.2f}×" if base > 0 else "n/a"


def _sizes(results: Results) -> tuple[CodeSize | None, list[tuple[str, CodeSize]]]:
    """Lazy's code size and each event column's."""
    columns = cost_columns(results)
    lazy = next(
        (s for c, m in columns.items() if m == LAZY if (s := codesize_of(results, c))), None
    )
    others = [(c, s) for c, m in columns.items() if m != LAZY if (s := codesize_of(results, c))]
    return lazy, others


def team_total(size: CodeSize) -> int | None:
    """What a team adopting the mode writes and keeps: product, tests and configuration."""
    team = size.team
    return None if team is None else team.product_sloc + team.tests_sloc + team.config_sloc


def _team_text(size: CodeSize) -> str:
    team = size.team
    if team is None:
        return "not counted"
    return (
        f"{team_total(size)} lines: product {team.product_sloc} (event code in shared modules "
        f"{team.shared_event_sloc}), tests {team.tests_sloc} in {len(team.test_files)} files, "
        f"configuration {team.config_sloc}"
    )


def claim_less_code(results: Results) -> Claim:
    """Check 'radically less code' against the code a team keeps for each mode."""
    title, quote = "Less code", "Radically less code. A few lined extra to extract the id."
    rule = (
        "the code a team adopting the mode writes and keeps (its own product code, tests and "
        "configuration; the plumbing every mode shares is shown once, apart, and charged to "
        f"none): supported if every event mode needs ≥ {RADICAL_RATIO}× lazy's; contradicted if "
        "lazy's is smaller than no event mode's; partly otherwise"
    )
    lazy, others = _sizes(results)
    lazy_total = team_total(lazy) if lazy is not None else None
    if lazy is None or lazy_total is None or not others:
        return Claim(title, quote, "unmeasured", rule, ("lazy or every event mode not measured",))
    plumbing = lazy.team.plumbing_sloc if lazy.team else 0
    tests = lazy.team.plumbing_tests_sloc if lazy.team else 0
    evidence = [
        f"shared plumbing, every mode: {plumbing} product lines, {tests} test lines",
        f"lazy: {_team_text(lazy)}",
    ]
    totals = []
    for column, size in others:
        total = team_total(size) or 0
        totals.append(total)
        ratio = total / lazy_total if lazy_total else math.inf
        against = "meets" if ratio >= RADICAL_RATIO else "below"
        evidence.append(
            f"{column}: {_team_text(size)}; {_ratio_text(lazy_total, total)} lazy "
            f"({against} the {RADICAL_RATIO}× threshold)"
        )
    smaller = [total > lazy_total for total in totals]
    radical = [total >= RADICAL_RATIO * lazy_total for total in totals]
    status: Status = "supported" if all(radical) else "partly" if any(smaller) else "contradicted"
    return Claim(title, quote, status, rule, tuple(evidence))


def axes(results: Results) -> Contribution:
    """The size rows and the claim of less code."""
    return Contribution(
        mode_axes=(
            _size_axis(
                results,
                "Code a team keeps (product + tests + config)",
                lambda c: num(t) if (t := team_total(c)) is not None else Cell("n/a"),
            ),
            _size_axis(results, "Total SLOC", lambda c: num(c.total_sloc)),
            _size_axis(results, "Consumer SLOC", lambda c: num(c.consumer_sloc)),
        ),
        claims=(claim_less_code(results),),
    )
