"""The report's opening: which mode when, from the run's figures, and users missed per scenario."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bench.intervals import paired_difference
from bench.parts.scenarios.names import NEW_VALUE_MAX_KEY, ScenarioId
from bench.reach import reach
from bench.results import Results, Scenario


def users_missed(results: Results) -> dict[str, dict[int, int]]:
    """Users never reached, per variant and scenario (each user counted once)."""
    out: dict[str, dict[int, int]] = {}
    for scenario in results.scenarios:
        for label, run in scenario.runs.items():
            out.setdefault(label, {})[scenario.id] = reach(run).never
    return out


@dataclass(frozen=True)
class Situation:
    """One row of "which mode when": a situation, the variants that fit it, and the figure."""

    situation: str
    choose: str
    figure: str


def _scenario(results: Results, scenario_id: int) -> Scenario | None:
    return next((s for s in results.scenarios if s.id == scenario_id), None)


def _fewest_missed(results: Results, scenario_id: int, situation: str) -> Situation | None:
    scenario = _scenario(results, scenario_id)
    if scenario is None or not scenario.runs:
        return None
    missed = {label: reach(run) for label, run in scenario.runs.items()}
    least = min(r.never for r in missed.values())
    best = [label for label, r in missed.items() if r.never == least]
    figure = ", ".join(f"{label} {r.never}/{r.users}" for label, r in missed.items())
    return Situation(situation, " or ".join(best), f"users missed: {figure}")


def _attributes(results: Results) -> Situation | None:
    scenario = _scenario(results, ScenarioId.ATTRIBUTE_CHANGE)
    if scenario is None:
        return None
    late = {
        label: run.figures.get(NEW_VALUE_MAX_KEY)
        for label, run in scenario.runs.items()
        if run.figures.get("still_stale_after_window") == 0
    }
    timed = {label: float(t) for label, t in late.items() if t is not None}
    if not timed:
        return None
    best = min(timed, key=lambda label: timed[label])
    lazy = scenario.runs.get("lazy")
    ttl = lazy.figures.get("stale_without_login_up_to_s") if lazy else None
    lazy_text = f"; lazy: old value until a new login (up to {ttl}s)" if ttl else ""
    figure = ", ".join(f"{label} {t:.3f}s" for label, t in sorted(timed.items()))
    return Situation(
        "attributes change often and must take effect at once",
        best,
        f"every service served the new value within: {figure}{lazy_text}",
    )


def _latency(results: Results) -> Situation | None:
    """The fastest steady call, named only when the paired-round interval of its lead excludes
    a tie; otherwise every variant whose gap to the fastest may be noise shares the row."""
    lats = results.latency
    if not lats:
        return None
    by_p50 = sorted(lats, key=lambda label: lats[label].steady.p50)
    rounds = {label: lats[label].steady.round_p50s() for label in by_p50}
    best = by_p50[0]
    gaps = {label: paired_difference(rounds[label], rounds[best]) for label in by_p50[1:]}
    tied = [best, *(label for label, gap in gaps.items() if gap is None or gap.low <= 0)]
    figure = "p50: " + ", ".join(f"{label} {lats[label].steady.p50:.2f} ms" for label in by_p50)
    if len(by_p50) > 1:
        second = by_p50[1]
        gap = gaps[second]
        gap_text = gap.text(lambda ms: f"{ms:+.2f} ms") if gap else "no interval (one round)"
        figure += f"; {second} − {best}: {gap_text} over paired rounds"
    choose = best if len(tied) == 1 else f"tie (within noise): {' or '.join(tied)}"
    return Situation("the steady call must be as fast as possible", choose, figure)


def _code(results: Results) -> Situation | None:
    sloc = {label: size.total_sloc for label, size in results.codesize.items()}
    if not sloc:
        return None
    best = min(sloc, key=lambda label: sloc[label])
    figure = ", ".join(f"{label} {n}" for label, n in sloc.items())
    return Situation("the least code to write and run", best, f"SLOC: {figure}")


ROWS: list[Callable[[Results], Situation | None]] = [
    lambda r: _fewest_missed(
        r, ScenarioId.NEVER_CALL, "a welcome message must reach users who never call"
    ),
    lambda r: _fewest_missed(r, ScenarioId.CONSUMER_OFFLINE, "a consumer can be down for a while"),
    lambda r: _fewest_missed(r, ScenarioId.VALKEY_DOWN, "one Valkey node, which may be down"),
    lambda r: _fewest_missed(
        r, ScenarioId.VALKEY_KILLED, "Valkey may be killed and lose what it held"
    ),
    _attributes,
    _latency,
    _code,
]


def which_mode_when(results: Results) -> list[Situation]:
    """Every situation this run has figures for."""
    return [row for make in ROWS if (row := make(results)) is not None]
