"""Latency in the verdict: the moving parts and latency rows, the claim of fewer processes, and
the targets."""

from __future__ import annotations

from collections.abc import Callable

from bench.intervals import Interval, paired_difference
from bench.parts.latency.targets import overhead_rounds
from bench.report.fmt import fmt_num
from bench.results import MIN_P99_SAMPLES, ModeLatency, Results, Stats, percentile
from bench.verdict import (
    LAZY,
    Axis,
    Better,
    Cell,
    Claim,
    Compare,
    Contribution,
    Status,
    cost_columns,
    make_axis,
    num,
    ordered_targets,
)
from common.settings import CONSUMER_SERVICES


def latency_of(results: Results, column: str) -> ModeLatency | None:
    """The latency of a cost column."""
    return results.latency.get(column)


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


def _propagation(lat: ModeLatency, attr: str) -> Cell:
    if lat.propagation is None or lat.propagation.n == 0:
        return Cell("n/a (known at its first call)")
    return num(float(getattr(lat.propagation, attr)))


def tail_cell(stats: Stats | None) -> Cell:
    """The p99 from at least MIN_P99_SAMPLES samples, else the max, labelled so."""
    if stats is None or stats.n == 0:
        return Cell("n/a (known at its first call)")
    if stats.has_p99:
        return num(stats.p99)
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


def axes(results: Results) -> Contribution:
    """The moving parts and latency rows, the claim of fewer processes, and the targets."""
    return Contribution(
        mode_axes=(
            _used_axis(results),
            _lat_axis(
                results,
                "Steady call p50 (ms)",
                "lower",
                lambda lat: num(lat.steady.p50),
                _rounds_of(lambda lat: lat.steady),
            ),
            _lat_axis(
                results, "Steady p50 over verify-only p50", "lower", _overhead, overhead_rounds
            ),
            _lat_axis(
                results,
                "First call p50 (ms)",
                "lower",
                lambda lat: num(lat.first_call.p50),
                _rounds_of(lambda lat: lat.first_call),
            ),
            _lat_axis(
                results,
                "Registration p50 (ms)",
                "lower",
                lambda lat: num(lat.registration.p50),
                _rounds_of(lambda lat: lat.registration),
            ),
            _lat_axis(
                results,
                "Registration throughput (req/s)",
                "higher",
                lambda lat: num(lat.registration_throughput.rps),
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
        ),
        claims=(claim_fewer_processes(results),),
        targets=ordered_targets(results.targets),
    )
