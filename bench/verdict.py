"""The verdict: winners per measured axis and the design note's claims, computed from Results."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal

from bench.intervals import Interval, paired_difference, share_difference
from bench.parts.latency.targets import overhead_rounds
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
from bench.results import (
    MIN_P99_SAMPLES,
    CodeSize,
    ConsumerOutcome,
    ModeLatency,
    Results,
    Scenario,
    ScenarioRun,
    Stats,
    Target,
    percentile,
)
from bench.variants import Variant
from common.settings import CONSUMER_SERVICES, Settings

Better = Literal["lower", "higher"]
Status = Literal["supported", "partly", "contradicted", "unmeasured"]

LAZY = "lazy"
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
# "Radically" less code: every event mode needs at least this many times lazy's SLOC.
RADICAL_RATIO = 1.5


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


def codesize_of(results: Results, column: str) -> CodeSize | None:
    """The code size of a cost column."""
    return results.codesize.get(column)


def latency_of(results: Results, column: str) -> ModeLatency | None:
    """The latency of a cost column."""
    return results.latency.get(column)


def variant_modes(results: Results) -> dict[str, str]:
    """Scenario variant label -> mode (run.mode wins), ordered by mode then appearance."""
    found = {label: mode_of(results, label) for label in results.variants}
    for scenario in results.scenarios:
        for label, run in scenario.runs.items():
            found[label] = run.mode
    return _ordered(results, found)


def scenario_by_id(results: Results, sid: int) -> Scenario | None:
    """The scenario with this id, if it ran."""
    return next((s for s in results.scenarios if s.id == sid), None)


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


# --- cost axes ---


def _size_axis(results: Results, label: str, fn: Callable[[CodeSize], Cell]) -> Axis:
    cells = {
        c: fn(size) if (size := codesize_of(results, c)) else Cell("n/a")
        for c in cost_columns(results)
    }
    return make_axis(label, "lower", cells)


RoundValues = Callable[[ModeLatency], list[float]]


def _per_round(values: RoundValues, lats: dict[str, ModeLatency]) -> Compare:
    """Compare two columns by the paired difference of a figure taken in each round."""

    def compare(a: str, b: str) -> Interval | None:
        return paired_difference(values(lats[a]), values(lats[b]))

    return compare


def _lat_axis(
    results: Results,
    label: str,
    better: Better,
    fn: Callable[[ModeLatency], Cell],
    rounds: RoundValues,
) -> Axis:
    lats = {c: lat for c in cost_columns(results) if (lat := latency_of(results, c))}
    cells = {c: fn(lats[c]) if c in lats else Cell("n/a") for c in cost_columns(results)}
    return make_axis(label, better, cells, _per_round(rounds, lats))


def _used_axis(results: Results) -> Axis:
    """Processes each column really used during its rounds: a count, so exact."""
    cells = {
        c: Cell(f"{len(procs)}{' (Valkey)' if 'valkey' in procs else ''}", len(procs))
        if (lat := latency_of(results, c)) and (procs := processes_used(lat))
        else Cell("n/a")
        for c in cost_columns(results)
    }
    return make_axis("Processes used (Valkey per CLIENT LIST)", "lower", cells)


def _num(x: float) -> Cell:
    return Cell(fmt_num(x), x)


def _propagation(lat: ModeLatency, attr: str) -> Cell:
    if lat.propagation is None or lat.propagation.n == 0:
        return Cell("n/a (known at its first call)")
    return _num(float(getattr(lat.propagation, attr)))


def tail_cell(stats: Stats | None) -> Cell:
    """The p99 from at least MIN_P99_SAMPLES samples, else the max, labelled so."""
    if stats is None or stats.n == 0:
        return Cell("n/a (known at its first call)")
    if stats.has_p99:
        return _num(stats.p99)
    return Cell(f"max {fmt_num(stats.max)} (n={stats.n})", stats.max)


def _tail_rounds(lat: ModeLatency) -> list[float]:
    prop = lat.propagation
    if prop is None or not prop.has_p99:
        return []  # a max has no interval worth quoting: such a lead is never starred
    return [percentile(sorted(r), 99) for r in prop.per_round() if r]


def _rounds_of(stats: Callable[[ModeLatency], Stats | None]) -> RoundValues:
    def values(lat: ModeLatency) -> list[float]:
        found = stats(lat)
        return found.round_p50s() if found is not None else []

    return values


def _overhead(lat: ModeLatency) -> Cell:
    if lat.verify_only.p50 <= 0:
        return Cell("n/a")
    pct = (lat.steady.p50 / lat.verify_only.p50 - 1) * 100
    return Cell(f"{pct:+.1f} % ({lat.steady.p50 / lat.verify_only.p50:.3f}×)", pct)


def mode_axes(results: Results) -> tuple[Axis, ...]:
    """The cost rows: code size, moving parts, latency and throughput."""
    return (
        _size_axis(
            results,
            "Code a team keeps (product + tests + config)",
            lambda c: _num(t) if (t := team_total(c)) is not None else Cell("n/a"),
        ),
        _size_axis(results, "Total SLOC", lambda c: _num(c.total_sloc)),
        _size_axis(results, "Consumer SLOC", lambda c: _num(c.consumer_sloc)),
        _used_axis(results),
        _lat_axis(
            results,
            "Steady call p50 (ms)",
            "lower",
            lambda lat: _num(lat.steady.p50),
            _rounds_of(lambda lat: lat.steady),
        ),
        _lat_axis(results, "Steady p50 over verify-only p50", "lower", _overhead, overhead_rounds),
        _lat_axis(
            results,
            "First call p50 (ms)",
            "lower",
            lambda lat: _num(lat.first_call.p50),
            _rounds_of(lambda lat: lat.first_call),
        ),
        _lat_axis(
            results,
            "Registration p50 (ms)",
            "lower",
            lambda lat: _num(lat.registration.p50),
            _rounds_of(lambda lat: lat.registration),
        ),
        _lat_axis(
            results,
            "Registration throughput (req/s)",
            "higher",
            lambda lat: _num(lat.registration_throughput.rps),
            lambda lat: lat.registration_throughput.round_rates(),
        ),
        _lat_axis(
            results,
            "Propagation p50 (ms)",
            "lower",
            lambda lat: _propagation(lat, "p50"),
            _rounds_of(lambda lat: lat.propagation),
        ),
        _lat_axis(
            results,
            f"Propagation p99 (ms; the max below {MIN_P99_SAMPLES:,} samples)",
            "lower",
            lambda lat: tail_cell(lat.propagation),
            _tail_rounds,
        ),
    )


# --- scenario figures ---


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


# --- consistency axes ---


def _share_compare(shares: dict[str, Share]) -> Compare:
    """Compare two columns by the difference of their shares of users, resampling users."""

    def compare(a: str, b: str) -> Interval | None:
        if a not in shares or b not in shares:
            return None
        return share_difference(*shares[a], *shares[b])

    return compare


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
    return make_axis(label, better, cells, _share_compare(shares))


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
        _share_compare(shares),
    )


def _refusals_axis(results: Results) -> Axis:
    cells: dict[str, Cell] = {}
    for variant in variant_modes(results):
        ran = [s.runs[variant] for s in results.scenarios if variant in s.runs]
        total = sum(c.unknown_user_refusals for run in ran for c in run.consumers.values())
        cells[variant] = Cell(str(total), total) if ran else Cell("n/a")
    return make_axis("unknown_user refusals, all scenarios", "lower", cells, no_interval)


def variant_axes(results: Results) -> tuple[Axis, ...]:
    """The consistency rows: what each variant keeps consistent under faults."""
    return (
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


# --- claims ---


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


APP_PROCESSES = ("gateway", "auth", *CONSUMER_SERVICES)  # every request of every mode uses them


def processes_used(lat: ModeLatency) -> tuple[str, ...]:
    """The processes a variant really used: Valkey only if a service connected or sent to it."""
    return (*APP_PROCESSES, "valkey") if lat.valkey_users else APP_PROCESSES


def _used(lat: ModeLatency) -> str:
    procs = processes_used(lat)
    who = (
        f"Valkey used by {', '.join(lat.valkey_users)}"
        if lat.valkey_users
        else "no service connected to Valkey or sent it a command"
    )
    return f"{len(procs)} processes used ({', '.join(procs)}); {who}"


def claim_fewer_processes(results: Results) -> Claim:
    """Check 'one less microservice running' against the processes each variant really used."""
    title, quote = "Fewer moving parts", "One less microservice running in the system."
    rule = (
        "processes used during the latency rounds (Valkey counts when a service held a new "
        "connection or sent it a command, from Valkey's CLIENT LIST per ACL user; Valkey kept "
        "running for a live switch does not). Supported if lazy used fewer processes than "
        "every event variant; contradicted if it used no fewer than any; partly otherwise"
    )
    columns = cost_columns(results)
    lazy = next(
        (lat for c, m in columns.items() if m == LAZY if (lat := latency_of(results, c))), None
    )
    others = [(c, lat) for c, m in columns.items() if m != LAZY if (lat := latency_of(results, c))]
    if lazy is None or not others:
        return Claim(title, quote, "unmeasured", rule, ("lazy or every event mode not measured",))
    base = len(processes_used(lazy))
    evidence = [f"lazy: {_used(lazy)}"]
    evidence += [
        f"{c}: {_used(lat)}, {len(processes_used(lat)) - base:+d} vs lazy" for c, lat in others
    ]
    fewer = [len(processes_used(lat)) > base for _, lat in others]
    status: Status = "supported" if all(fewer) else "partly" if any(fewer) else "contradicted"
    return Claim(title, quote, status, rule, tuple(evidence))


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


def ordered_targets(targets: Iterable[Target]) -> tuple[Target, ...]:
    """Every target, the missed ones first."""
    items = list(targets)
    return tuple([t for t in items if not t.met] + [t for t in items if t.met])


def verdict(results: Results) -> Verdict:
    """Everything the summary shows, derived from the figures alone."""
    return Verdict(
        columns=cost_columns(results),
        variants=variant_modes(results),
        mode_axes=mode_axes(results),
        variant_axes=variant_axes(results),
        claims=(
            claim_less_code(results),
            claim_fewer_processes(results),
            claim_jwt_enough(results),
        ),
        targets=ordered_targets(results.targets),
    )
