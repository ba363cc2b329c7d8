"""The verdict's shape: cells, axes, claims, and the winners of an axis; each part's verdict.py
contributes its own rows, and bench.catalog assembles them."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

from bench.intervals import Interval, share_difference
from bench.report.fmt import fmt_num
from bench.results import Results, Target
from bench.variants import Variant

Better = Literal["lower", "higher"]

Status = Literal["supported", "partly", "contradicted", "unmeasured"]

LAZY = "lazy"


@dataclass(frozen=True)
class Cell:
    """One figure of the summary; value None means not applicable, inf means never.

    An unranked cell is shown but never compared: its figure covers less than the others'.
    """

    text: str
    value: float | None = None
    ranked: bool = True


@dataclass(frozen=True)
class Axis:
    """One measured axis across columns, with the columns that win it."""

    label: str
    better: Better
    cells: dict[str, Cell]
    winners: tuple[str, ...]
    within_noise: bool = False  # the interval of the lead over the runner-up includes a tie
    interval: Interval | None = None  # of (winner − runner-up)
    versus: str | None = None  # the runner-up the interval compares against
    exact: bool = False  # counts, not samples: a lead needs no interval


@dataclass(frozen=True)
class Claim:
    """A claim of the design note checked against the figures by an explicit rule."""

    title: str
    quote: str
    status: Status
    rule: str
    evidence: tuple[str, ...]


@dataclass(frozen=True)
class Verdict:
    """The one-screen summary of a run."""

    columns: dict[str, str]  # cost column (mode or measured variant) -> mode
    variants: dict[str, str]  # scenario variant -> mode
    mode_axes: tuple[Axis, ...]
    variant_axes: tuple[Axis, ...]
    claims: tuple[Claim, ...]
    targets: tuple[Target, ...]  # missed first, then met; none left out


@dataclass(frozen=True)
class Contribution:
    """What one part adds to the verdict: cost rows, consistency rows, claims and targets."""

    mode_axes: tuple[Axis, ...] = ()
    variant_axes: tuple[Axis, ...] = ()
    claims: tuple[Claim, ...] = ()
    targets: tuple[Target, ...] = ()


def no_axes(results: Results) -> Contribution:
    """The contribution of a part whose figures are reported but never ranked."""
    return Contribution()


def num(x: float) -> Cell:
    """A cell showing a number, ranked by it."""
    return Cell(fmt_num(x), x)


# --- columns ---


def mode_of(results: Results, label: str) -> str:
    """The mode of a mode name or variant label."""
    spec = results.variants.get(label) or {}
    return str(spec.get("mode") or Variant.parse(label).mode.value)


def _ordered(results: Results, found: dict[str, str]) -> dict[str, str]:
    order = list(dict.fromkeys(results.modes))
    labels = list(found)

    def rank(label: str) -> tuple[int, int]:
        mode = found[label]
        return (order.index(mode) if mode in order else len(order), labels.index(label))

    return {label: found[label] for label in sorted(labels, key=rank)}


def cost_columns(results: Results) -> dict[str, str]:
    """Columns of the cost table (the variants code size and latency were measured for) -> mode."""
    found = {k: mode_of(results, k) for k in [*results.codesize, *results.latency]}
    return _ordered(results, found)


def variant_modes(results: Results) -> dict[str, str]:
    """Scenario variant label -> mode (run.mode wins), ordered by mode then appearance."""
    found = {label: mode_of(results, label) for label in results.variants}
    for scenario in results.scenarios:
        for label, run in scenario.runs.items():
            found[label] = run.mode
    return _ordered(results, found)


# --- winners ---

# The interval of (winner − runner-up) for two columns; None when it cannot be computed.
Compare = Callable[[str, str], Interval | None]

Share = tuple[int, int]  # (users counted, users in the runs)


def no_interval(a: str, b: str) -> None:
    """For single observations: no interval, so no lead is starred."""
    return


def pick_winners(cells: dict[str, Cell], better: Better) -> tuple[str, ...]:
    """Ranked columns holding the best value; none when fewer than two values differ."""
    values = {k: c.value for k, c in cells.items() if c.value is not None and c.ranked}
    if len(values) < 2 or len(set(values.values())) < 2:
        return ()
    best = min(values.values()) if better == "lower" else max(values.values())
    return tuple(k for k, v in values.items() if math.isclose(v, best, rel_tol=1e-9))


def runner_up(cells: dict[str, Cell], better: Better, winners: tuple[str, ...]) -> str | None:
    """The best ranked column after the winners."""
    rest = {
        k: c.value
        for k, c in cells.items()
        if c.value is not None and c.ranked and k not in winners
    }
    if not rest:
        return None
    pick = min if better == "lower" else max
    return pick(rest, key=lambda k: rest[k])


def make_axis(
    label: str, better: Better, cells: dict[str, Cell], compare: Compare | None = None
) -> Axis:
    """An axis with its winners; with `compare`, a lead counts only if its interval excludes 0.

    Without `compare` the figures are exact counts (code size, processes), and a lead is a lead.
    """
    winners = pick_winners(cells, better)
    second = runner_up(cells, better, winners)
    if not winners or second is None or compare is None:
        return Axis(label, better, cells, winners, exact=compare is None)
    interval = compare(winners[0], second)
    tie = interval is None or not interval.excludes(0.0)
    return Axis(label, better, cells, winners, within_noise=tie, interval=interval, versus=second)


def share_compare(shares: dict[str, Share]) -> Compare:
    """Compare two columns by the difference of their shares of users, resampling users."""

    def compare(a: str, b: str) -> Interval | None:
        if a not in shares or b not in shares:
            return None
        return share_difference(*shares[a], *shares[b])

    return compare


def ordered_targets(targets: Iterable[Target]) -> tuple[Target, ...]:
    """Every target, the missed ones first."""
    items = list(targets)
    return tuple([t for t in items if not t.met] + [t for t in items if t.met])
