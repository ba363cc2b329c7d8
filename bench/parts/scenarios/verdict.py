"""The scenarios in the verdict: the consistency rows, and the claim that the JWT is enough."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from bench.parts.scenarios.names import (
    AFTER_WAIT_KEY,
    AGE_AT_DEACTIVATION_KEY,
    LATE_SERVICE_KEY,
    REFUSED_SUFFIX,
    TTL_KEY,
    ScenarioId,
)
from bench.reach import add, reach
from bench.report.fmt import fmt_num
from bench.results import ConsumerOutcome, Results, Scenario, ScenarioRun
from bench.verdict import (
    LAZY,
    Axis,
    Better,
    Cell,
    Claim,
    Contribution,
    Share,
    Status,
    make_axis,
    no_interval,
    share_compare,
    variant_modes,
)
from common.settings import Settings

WELCOME_SERVICE = "notifications"  # the consumer that sends welcome messages

# Scenarios with a row of their own in the summary; the others are the fault scenarios.
DEDICATED = (
    ScenarioId.CONCURRENT_FIRST_CALLS,
    ScenarioId.DEACTIVATION,
    ScenarioId.NEVER_CALL,
    ScenarioId.LATE_SERVICE,
)

EXP_STEP_S = 1.0  # `iat` and `exp` are whole seconds: a token can expire up to 1 s early

DEFAULT_TOKEN_TTL = int(Settings.model_fields["lab_token_ttl"].default)


def scenario_by_id(results: Results, sid: int) -> Scenario | None:
    """The scenario with this id, if it ran."""
    return next((s for s in results.scenarios if s.id == sid), None)


def _runs(results: Results, sid: int) -> dict[str, ScenarioRun]:
    scenario = scenario_by_id(results, sid)
    return dict(scenario.runs) if scenario else {}


def _slowest(values: list[Any]) -> float | None:
    return None if any(v is None for v in values) else max(float(v) for v in values)


def token_ttl(run: ScenarioRun) -> float | None:
    """The token lifetime the run was given: a parameter of the scenario, not a result."""
    ttl = run.figures.get(TTL_KEY)
    return None if ttl is None else float(ttl)


def refused_after(run: ScenarioRun) -> tuple[bool, float | None]:
    """(found, seconds) until every service refused the deactivated user; None = never."""
    per_service = [v for k, v in run.figures.items() if k.endswith(REFUSED_SUFFIX)]
    if per_service:
        return True, _slowest(per_service)
    return False, None


def refuse_time(run: ScenarioRun) -> Cell:
    """Time to refuse a deactivated user everywhere; inf when it was still served at the end.

    A refusal no earlier than the token's remaining lifetime (TTL − token age at deactivation,
    less EXP_STEP_S for whole-second claims) is the token expiring, not a signal: its time is
    that remaining lifetime, so it is shown, and ranked, at the default lifetime.
    """
    found, value = refused_after(run)
    if not found:
        return Cell("n/a")
    ttl = token_ttl(run)
    if value is None:
        until = f" (token valid {fmt_num(ttl)} s)" if ttl is not None else ""
        return Cell(f"still served at the end{until}", math.inf)
    age = float(run.figures.get(AGE_AT_DEACTIVATION_KEY) or 0.0)
    if ttl is None or value < ttl - age - EXP_STEP_S:
        return Cell(f"{fmt_num(value)} s", value)
    at_default = DEFAULT_TOKEN_TTL - age
    return Cell(
        f"token expiry: TTL − token age = {fmt_num(at_default)} s at the default "
        f"{DEFAULT_TOKEN_TTL} s (ran with TTL {fmt_num(ttl)} s, a parameter: measured "
        f"{fmt_num(value)} s ≥ TTL − token age {fmt_num(age)} s − {fmt_num(EXP_STEP_S)} s "
        "for whole-second exp)",
        at_default,
    )


def welcome_sent(run: ScenarioRun) -> int:
    """Welcome messages sent by the notifications consumer."""
    sender = run.consumers.get(WELCOME_SERVICE)
    return sender.welcome_messages if sender is not None else 0


def welcome_cell(run: ScenarioRun) -> Cell:
    """Welcome messages sent to users who never call, as a share of the users."""
    sent = welcome_sent(run)
    share = sent / run.users if run.users else 0.0
    return Cell(f"{sent} of {run.users}", share)


def late_consumer(run: ScenarioRun) -> tuple[str, ConsumerOutcome] | None:
    """The consumer started after the users, as the run's figures name it."""
    name = run.figures.get(LATE_SERVICE_KEY)
    if isinstance(name, str) and name in run.consumers:
        return name, run.consumers[name]
    return None


def late_cell(run: ScenarioRun) -> Cell:
    """What a service added later knows before anyone calls, as a share of the users."""
    late = late_consumer(run)
    if late is None:
        return Cell("n/a")
    name, outcome = late
    wait = run.figures.get(AFTER_WAIT_KEY)
    before = int(wait) if isinstance(wait, int | float) else outcome.known
    share = before / run.users if run.users else 0.0
    parts = [f"{before} of {run.users} ({name})"]
    if isinstance(wait, int | float):
        parts.append(f"{outcome.known} once users called")
    return Cell("; ".join(parts), share)


def late_share(run: ScenarioRun) -> Share | None:
    """(users the late service knew before anyone called, users)."""
    late = late_consumer(run)
    if late is None:
        return None
    wait = run.figures.get(AFTER_WAIT_KEY)
    before = int(wait) if isinstance(wait, int | float) else late[1].known
    return before, run.users


def _duplicates(run: ScenarioRun) -> Cell:
    total = sum(c.duplicates for c in run.consumers.values())
    return Cell(str(total), total)


def _single(run: ScenarioRun) -> None:
    return None


def _variant_axis(
    results: Results,
    label: str,
    better: Better,
    sid: int,
    fn: Callable[[ScenarioRun], Cell],
    share: Callable[[ScenarioRun], Share | None] = _single,
) -> Axis:
    """One scenario's figure per variant; with `share`, leads carry an interval over users.

    Without it the figure is a single observation per variant, so no lead is starred.
    """
    runs = _runs(results, sid)
    cells = {v: fn(runs[v]) if v in runs else Cell("n/a") for v in variant_modes(results)}
    shares = {v: found for v, run in runs.items() if (found := share(run)) is not None}
    return make_axis(label, better, cells, share_compare(shares))


def fault_scenarios(results: Results) -> list[Scenario]:
    """Scenarios whose misses are summed: all but those with a row of their own."""
    return sorted((s for s in results.scenarios if s.id not in DEDICATED), key=lambda s: s.id)


def _missed_axis(results: Results) -> Axis:
    """Users never reached, summed over the fault scenarios; each user counts once.

    A variant that ran fewer of them than the others is shown but not ranked.
    """
    faults = fault_scenarios(results)
    ids = ", ".join(str(s.id) for s in faults) or "none ran"
    cells: dict[str, Cell] = {}
    shares: dict[str, Share] = {}
    for variant in variant_modes(results):
        ran = [s.runs[variant] for s in faults if variant in s.runs]
        if not ran:
            cells[variant] = Cell("n/a")
            continue
        total = add([reach(run) for run in ran])
        per = ", ".join(f"{name} {n}" for name, n in total.never_per_consumer.items())
        complete = len(ran) == len(faults)
        suffix = "" if complete else f"; {len(ran)} of {len(faults)} scenarios, not ranked"
        text = f"{total.never} of {total.users} ({per}); rescued {total.rescued}{suffix}"
        cells[variant] = Cell(text, total.never, ranked=complete)
        shares[variant] = (total.never, total.users)
    return make_axis(
        f"Users never reached (missed by ≥ 1 consumer), scenarios {ids}",
        "lower",
        cells,
        share_compare(shares),
    )


def _refusals_axis(results: Results) -> Axis:
    cells: dict[str, Cell] = {}
    for variant in variant_modes(results):
        ran = [s.runs[variant] for s in results.scenarios if variant in s.runs]
        total = sum(c.unknown_user_refusals for run in ran for c in run.consumers.values())
        cells[variant] = Cell(str(total), total) if ran else Cell("n/a")
    return make_axis("unknown_user refusals, all scenarios", "lower", cells, no_interval)


def _split_runs(results: Results, sid: int) -> tuple[ScenarioRun | None, dict[str, ScenarioRun]]:
    runs = _runs(results, sid)
    lazy = next((r for r in runs.values() if r.mode == LAZY), None)
    return lazy, {v: r for v, r in runs.items() if r.mode != LAZY}


def _check_deactivation(results: Results) -> tuple[bool, str] | None:
    """(passes, evidence): lazy refuses a deactivated user no later than the slowest event run."""
    lazy, events = _split_runs(results, ScenarioId.DEACTIVATION)
    if lazy is None or (cell := refuse_time(lazy)).value is None:
        return None
    others = {v: refuse_time(r) for v, r in events.items()}
    times = [c.value for c in others.values() if c.value is not None]
    slowest = max(times) if times else math.inf
    passes = not math.isinf(cell.value) and cell.value <= slowest
    shown = "; ".join(f"{v} {c.text}" for v, c in others.items() if c.value is not None)
    text = f"s7: time to refuse a deactivated user: lazy {cell.text}"
    return passes, text + (f"; {shown}" if shown else "")


def _check_welcome(results: Results) -> tuple[bool, str] | None:
    """(passes, evidence): lazy welcomes every user who never calls."""
    lazy, events = _split_runs(results, ScenarioId.NEVER_CALL)
    if lazy is None:
        return None
    cell = welcome_cell(lazy)
    others = "; ".join(f"{v} {welcome_cell(r).text}" for v, r in events.items())
    text = f"s8: welcome messages to users who never call: lazy {cell.text}"
    return (cell.value or 0.0) >= 1.0, text + (f"; {others}" if others else "")


def claim_jwt_enough(results: Results) -> Claim:
    """Check 'we trust the JWT, so we know for sure the user exists' (lazy is enough)."""
    title = "The JWT is enough"
    quote = (
        "We trust the jwt, so that implies we trust the payload, "
        "so we know for sure the user exists."
    )
    rule = (
        "two checks: s7 lazy refuses a deactivated user no later than the slowest event "
        "variant; s8 lazy sends a welcome message to every user who never calls. "
        "Supported if both pass; contradicted if every measured check fails; partly otherwise"
    )
    checks = [c for c in (_check_deactivation(results), _check_welcome(results)) if c]
    if not checks:
        return Claim(title, quote, "unmeasured", rule, ("scenarios 7 and 8 not measured in lazy",))
    passed = [ok for ok, _ in checks]
    if len(checks) == 2 and all(passed):
        status: Status = "supported"
    elif not any(passed):
        status = "contradicted"
    else:
        status = "partly"
    evidence = tuple(f"{'pass' if ok else 'fail'}: {text}" for ok, text in checks)
    return Claim(title, quote, status, rule, evidence)


def axes(results: Results) -> Contribution:
    """The consistency rows, and the claim that the JWT is enough."""
    rows = (
        _missed_axis(results),
        _variant_axis(
            results,
            "Welcome messages to users who never call (s8)",
            "higher",
            ScenarioId.NEVER_CALL,
            welcome_cell,
            lambda run: (welcome_sent(run), run.users),
        ),
        _variant_axis(
            results,
            "Time to refuse a deactivated user everywhere (s7)",
            "lower",
            ScenarioId.DEACTIVATION,
            refuse_time,
        ),
        _variant_axis(
            results,
            "Users a service added later knows before they call (s9)",
            "higher",
            ScenarioId.LATE_SERVICE,
            late_cell,
            late_share,
        ),
        _variant_axis(
            results,
            "Duplicates under concurrent first calls (s6)",
            "lower",
            ScenarioId.CONCURRENT_FIRST_CALLS,
            _duplicates,
        ),
        _refusals_axis(results),
    )
    return Contribution(variant_axes=rows, claims=(claim_jwt_enough(results),))
