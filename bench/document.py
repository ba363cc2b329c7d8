"""The report: every section of results.json assembled, verdict first, and written to disk."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from bench import capacityreport, overview, scalereport, stagereport, tokenreport
from bench.reach import reach
from bench.reliability import report as reliability_report
from bench.report import (
    Block,
    Bullets,
    Chart,
    Contents,
    Heading,
    Para,
    T,
    Table,
    flatten,
    fmt_num,
    fmt_s,
    fmt_value,
    slug,
    write,
)
from bench.report.charts import colors, png
from bench.results import (
    MIN_P99_SAMPLES,
    CodeSize,
    Floors,
    ModeLatency,
    Results,
    Scenario,
    Stats,
    Target,
    Throughput,
    floor_parts,
)
from bench.scenarios.names import ScenarioId
from bench.verdict import (
    LAZY,
    Axis,
    Claim,
    Verdict,
    codesize_of,
    cost_columns,
    latency_of,
    variant_modes,
    verdict,
)

AWARENESS_SCENARIOS = (
    ScenarioId.STEADY,
    ScenarioId.CONSUMER_OFFLINE,
    ScenarioId.VALKEY_DOWN,
    ScenarioId.SLOW_SUBSCRIBER,
    ScenarioId.LATE_SERVICE,
)
OPERATIONS = (
    "registration",
    "login",
    "first_call",
    "first_call_extra",
    "steady",
    "verify_only",
    "steady_miss",
    "verify_miss",
    "propagation",
)
OP_TITLES = {
    "registration": "Registration",
    "login": "Login",
    "first_call": "First call, on every consumer",
    "first_call_extra": "What a first call adds: per user, first call − the next call",
    "steady": "Steady call, known-user cache hit",
    "verify_only": "Verify only",
    "steady_miss": "Steady call, known-user cache entry expired",
    "verify_miss": "Verify only, at the same moments as the cache misses",
    "propagation": "Propagation",
}
FLOOR_TITLES = {
    "valkey_pubsub": "Valkey PUBLISH to a subscriber",
    "valkey_stream": "Valkey XADD to XREADGROUP",
    "db_insert": "one provisioning insert (SQLite)",
    "jwt_verify": "PyJWT RS256 verify, in process",
    "bare_fastapi": "empty FastAPI endpoint over HTTP",
    "argon2_hash": "one argon2id hash",
}
# Text, not emoji: a headless browser without an emoji font draws emoji as empty boxes.
STATUS_MARK = {
    "supported": "[OK]",
    "partly": "[PARTLY]",
    "contradicted": "[NO]",
    "unmeasured": "[N/A]",
}


def spread_text(stats: Stats) -> str:
    """The p50 of each round, as a range."""
    if not stats.spread_p50:
        return "—"
    low, high = min(stats.spread_p50), max(stats.spread_p50)
    return f"{fmt_num(low)}–{fmt_num(high)} ({len(stats.spread_p50)} rounds)"


def tail_text(stats: Stats) -> str:
    """The p99, or the max labelled as such when there are too few samples for a p99."""
    return fmt_num(stats.p99) if stats.has_p99 else f"max {fmt_num(stats.max)}"


def latency_chart(results: Results) -> bytes:
    """Bars of p50 per mode and operation, with p95 and tail marks, on a log scale."""
    fig = Figure(figsize=(9, 4))
    ax = fig.add_subplot()
    lats = measured_latency(results)
    palette = colors(list(lats))
    width = 0.8 / max(1, len(lats))
    for j, (column, lat) in enumerate(lats.items()):
        for i, op in enumerate(OPERATIONS):
            stats = op_stats(lat, op)
            if stats is None or stats.n == 0:
                continue
            x = i - 0.4 + width * (j + 0.5)
            ax.bar(x, stats.p50, width, color=palette[column], label=column if i == 0 else None)
            ax.vlines(x, stats.p50, stats.tail, color="black", linewidth=0.8)
            ax.plot([x], [stats.p95], marker="o", color="black", markersize=3)
            ax.plot([x], [stats.tail], marker="_", color="black", markersize=8)
    ax.set_xticks(range(len(OPERATIONS)), [OP_TITLES[op] for op in OPERATIONS])
    ax.set_yscale("log")
    ax.set_ylabel("ms (log scale)")
    ax.set_title(f"Latency: bar p50, dot p95, tick p99 (the max below {MIN_P99_SAMPLES:,} samples)")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)
    ax.grid(axis="y", which="both", alpha=0.3)
    return png(fig)


def codesize_chart(results: Results) -> bytes:
    """Stacked SLOC bars per mode: auth side and consumer side."""
    sizes = measured_sizes(results)
    height = 1.2 + 0.5 * max(1, len(sizes))
    fig = Figure(figsize=(7, height))
    ax = fig.add_subplot()
    names = list(sizes)
    auth = [sizes[c].auth_sloc for c in names]
    cons = [sizes[c].consumer_sloc for c in names]
    ax.barh(names, auth, color="#4c72b0", label="auth side")
    ax.barh(names, cons, left=auth, color="#dd8452", label="consumer side")
    for y, size in enumerate(sizes.values()):
        ax.text(
            size.total_sloc,
            y,
            f" {size.total_sloc} SLOC, {len(size.processes)} processes",
            va="center",
            fontsize=8,
        )
    ax.invert_yaxis()
    ax.set_xlabel("source lines (no blanks, comments or docstrings)")
    ax.set_xlim(0, max((s.total_sloc for s in sizes.values()), default=1) * 1.6)
    ax.legend(fontsize=8, loc="upper right")
    ax.set_title("Code size per mode")
    widest = max((len(n) for n in names), default=4)
    fig.subplots_adjust(
        left=min(0.45, (widest * 7 + 24) / (7 * 96)),
        right=0.97,
        bottom=0.55 / height,
        top=1 - 0.35 / height,
    )
    return png(fig)


def measured_sizes(results: Results) -> dict[str, CodeSize]:
    """Code size of each cost column that has one."""
    return {c: s for c in cost_columns(results) if (s := codesize_of(results, c))}


def measured_latency(results: Results) -> dict[str, ModeLatency]:
    """Latency of each cost column that has one."""
    return {c: lat for c in cost_columns(results) if (lat := latency_of(results, c))}


def _ordered_labels(scenario: Scenario, order: Sequence[str]) -> list[str]:
    return [v for v in order if v in scenario.runs] + [v for v in scenario.runs if v not in order]


def awareness_chart(scenario: Scenario, order: Sequence[str]) -> bytes:
    """Users known over time: one small panel per variant, one line per consumer."""
    labels = _ordered_labels(scenario, order)
    consumers = sorted({c for run in scenario.runs.values() for c in run.consumers})
    palette = colors(consumers)
    end = max(
        [run.duration_s for run in scenario.runs.values()]
        + [
            p[0]
            for run in scenario.runs.values()
            for c in run.consumers.values()
            for p in c.awareness
        ]
        + [1.0]
    )
    cols = min(3, max(1, len(labels)))
    rows = -(-max(1, len(labels)) // cols)
    fig = Figure(figsize=(3.4 * cols, 2.3 * rows + 0.6))
    axes = fig.subplots(rows, cols, sharex=True, sharey=True, squeeze=False)
    for i, ax in enumerate(axes.flat):
        if i >= len(labels):
            ax.set_visible(False)
            continue
        run = scenario.runs[labels[i]]
        for name in consumers:
            outcome = run.consumers.get(name)
            if outcome is None or not outcome.awareness:
                continue
            xs = [p[0] for p in outcome.awareness] + [end]
            ys = [p[1] for p in outcome.awareness]
            ax.step(xs, [*ys, ys[-1]], where="post", color=palette[name], linewidth=1.6, label=name)
        ax.axhline(run.users, color="grey", linewidth=0.8, linestyle=":")
        ax.set_title(labels[i], fontsize=9)
        ax.grid(alpha=0.3)
        ax.tick_params(labelsize=8)
    if axes.flat[0].get_legend_handles_labels()[0]:
        axes.flat[0].legend(fontsize=7, loc="lower right")
    fig.supxlabel("seconds since the scenario started (dotted: all users)", fontsize=9)
    fig.supylabel("users known", fontsize=9)
    fig.suptitle(f"Scenario {scenario.id}: users known over time", fontsize=10)
    fig.subplots_adjust(left=0.08, right=0.98, bottom=0.1, top=0.88, wspace=0.08, hspace=0.3)
    return png(fig)


# --- sections ---


def lead_text(axis: Axis) -> str:
    """How sure the row's lead is: exact counts, or its interval against the runner-up."""
    if not axis.winners:
        return "no lead"
    if axis.exact:
        return "counts: exact"
    if axis.interval is None:
        return "no interval (one observation each): no ★"
    verdict_word = "a real lead" if not axis.within_noise else "a tie"
    return f"lead over {axis.versus}: {axis.interval.text(fmt_num)} ({verdict_word})"


def axis_row(axis: Axis, columns: Sequence[str]) -> list[T]:
    """One summary row with its winners marked and the interval of the lead."""
    mark = "near" if axis.within_noise else "win"
    cells = [T(axis.label), T(f"{axis.better} is better")]
    for col in columns:
        cell = axis.cells.get(col)
        text = cell.text if cell else "n/a"
        cells.append(T(text, mark if col in axis.winners else ""))
    cells.append(T(lead_text(axis)))
    return cells


def claim_row(claim: Claim) -> list[T]:
    """One claim with its status, rule and figures."""
    return [
        T(f"{claim.title}: “{claim.quote}”"),
        T(f"{STATUS_MARK[claim.status]} {claim.status}", claim.status),
        T(claim.rule),
        T("\n".join(claim.evidence)),
    ]


def interval_text(target: Target) -> str:
    """The target's 95% interval, and whether it straddles the limit."""
    if target.interval is None:
        return " (no interval)"
    low, high = target.interval
    straddles = " — straddles the limit" if low <= target.limit <= high else ""
    return f" (95% CI {fmt_num(low)} to {fmt_num(high)}{straddles})"


def target_row(target: Target) -> list[T]:
    """One target; a missed one is marked on every cell, its detail included."""
    mark = "met" if target.met else "miss"
    status = "met" if target.met else "MISSED"
    cells = [
        target.name,
        target.mode or "all",
        f"{fmt_num(target.measured)} {target.unit}" + interval_text(target),
        f"{fmt_num(target.limit)} {target.unit}",
        status,
        f"{target.detail}. Why: {target.reason}"
        if target.reason and not target.met
        else target.detail,
    ]
    return [T(text, mark if (not target.met or i == 4) else "") for i, text in enumerate(cells)]


def busy_warning(results: Results) -> list[Block]:
    """A run on a machine busier than its CPUs is flagged: its figures carry that load."""
    env = results.environment
    if not env.get("busy"):
        return []
    before, after = env.get("loadavg_before") or ["?"], env.get("loadavg_after") or ["?"]
    return [
        Para(
            f"Busy machine: 1-minute load average {fmt_value(before[0])} before and "
            f"{fmt_value(after[0])} after the run, on {env.get('cpu_count', '?')} CPUs. Other "
            "work shared the CPUs, so latencies and rates are noisier and slower than on an "
            "idle machine.",
            "miss",
        )
    ]


def verdict_section(results: Results, v: Verdict) -> list[Block]:
    """The one-screen summary the report opens with."""
    cpu = results.environment.get("cpu_count", "?")
    run = "quick run" if results.quick else "full run"
    blocks: list[Block] = [
        Heading(2, "Verdict", "verdict"),
        Para(
            f"One {run} on one machine ({cpu} CPUs), generated {results.generated_at}. "
            "★ marks the best figure of a row where the 95% confidence interval of its lead "
            "over the runner-up excludes a tie (a seeded bootstrap over rounds for latency, "
            "over users for shares of users; counts such as code size are exact). ☆ marks a "
            "best figure whose interval includes a tie, or that has no interval. A variant "
            "that ran fewer scenarios than the others is shown but not ranked. A p99 is quoted "
            f"only from at least {MIN_P99_SAMPLES:,} samples; below that the max is quoted "
            "and labelled so."
        ),
        *busy_warning(results),
        Table(
            ["cost", "direction", *v.columns, "lead"],
            [axis_row(a, list(v.columns)) for a in v.mode_axes],
            "Cost per mode",
        ),
        Table(
            ["consistency", "direction", *v.variants, "lead"],
            [axis_row(a, list(v.variants)) for a in v.variant_axes],
            "Consistency per variant (scenarios)",
        ),
        Heading(3, "The design note's claims, checked"),
        Table(["claim", "status", "rule", "figures"], [claim_row(c) for c in v.claims]),
        Heading(3, "Targets"),
    ]
    missed = sum(1 for t in v.targets if not t.met)
    summary = (
        f"{missed} of {len(v.targets)} targets missed. A measured figure's 95% interval is a "
        "seeded bootstrap over rounds; for a p50, each resample pools the samples of the "
        "rounds it draws and computes the quoted figure again."
        if v.targets
        else "No targets set."
    )
    blocks.append(Para(summary, "miss" if missed else ""))
    if v.targets:
        blocks.append(
            Table(
                ["target", "mode", "measured", "limit", "status", "detail"],
                [target_row(t) for t in v.targets],
            )
        )
    return blocks


def _codesize_row(mode: str, size: CodeSize) -> list[T]:
    return [
        T(mode),
        T(str(size.auth_sloc)),
        T(str(size.consumer_sloc)),
        T(str(size.total_sloc)),
        T(f"{len(size.processes)}: {', '.join(size.processes)}"),
        T("yes" if size.needs_valkey else "no"),
        T(f"{len(size.settings)}: {', '.join(size.settings)}"),
    ]


def module_matrix(sizes: dict[str, CodeSize]) -> Table:
    """Every module against every mode, so what each mode adds shows at a glance."""
    rows: dict[tuple[str, str], dict[str, int]] = {}
    modes = list(sizes)
    for mode, size in sizes.items():
        for side, mods in (("auth", size.auth_modules), ("consumer", size.consumer_modules)):
            for mod in mods:
                rows.setdefault((side, mod.module), {})[mode] = mod.sloc
    body = [
        [T(side), T(module), *[T(str(per.get(m, "—"))) for m in modes]]
        for (side, module), per in sorted(rows.items())
    ]
    return Table(["side", "module", *modes], body, "SLOC per module")


def team_table(sizes: dict[str, CodeSize]) -> Table:
    """What a team adopting each mode writes and keeps; the shared plumbing once, below."""
    rows, plumbing = [], None
    for column, size in sizes.items():
        team = size.team
        if team is None:
            continue
        plumbing = plumbing or team
        rows.append(
            [
                T(column),
                T(str(team.product_sloc)),
                T(str(team.shared_event_sloc)),
                T(f"{team.tests_sloc} ({len(team.test_files)} files)"),
                T(f"{team.config_sloc} ({', '.join(team.config_files) or 'none'})"),
                T(str(team.product_sloc + team.tests_sloc + team.config_sloc)),
            ]
        )
    if plumbing is not None:
        rows.append(
            [
                T("shared plumbing, every mode (counted once)"),
                T(str(plumbing.plumbing_sloc)),
                T("—"),
                T(str(plumbing.plumbing_tests_sloc)),
                T("—"),
                T(str(plumbing.plumbing_sloc + plumbing.plumbing_tests_sloc)),
            ]
        )
    return Table(
        [
            "mode",
            "own product SLOC",
            "of which event code in shared modules",
            "tests SLOC",
            "configuration lines",
            "a team keeps",
        ],
        rows,
        "Code a team adopting the mode writes and keeps (rule: bench/teamsize.py)",
    )


def codesize_section(results: Results, charts: bool) -> list[Block]:
    """Section 1: code size and moving parts."""
    sizes = measured_sizes(results)
    blocks: list[Block] = [
        Heading(2, "1. Code size and moving parts", "codesize"),
        Table(
            [
                "mode",
                "auth SLOC",
                "consumer SLOC",
                "total SLOC",
                "processes",
                "needs Valkey",
                "settings",
            ],
            [_codesize_row(c, s) for c, s in sizes.items()],
        ),
    ]
    if sizes:
        blocks.append(team_table(sizes))
    if charts and sizes:
        blocks.append(Chart("Code size per mode", codesize_chart(results)))
    if sizes:
        blocks.append(module_matrix(sizes))
    else:
        blocks.append(Para("Code size was not measured."))
    return blocks


def op_stats(lat: ModeLatency, op: str) -> Stats | None:
    """The figures of one operation of one mode."""
    value = getattr(lat, op)
    return value if isinstance(value, Stats) else None


def _latency_row(
    results: Results, floors: Floors, column: str, lat: ModeLatency, op: str
) -> list[T] | None:
    stats = op_stats(lat, op)
    if stats is None or stats.n == 0:
        return None
    mode = cost_columns(results)[column]
    if op == "propagation":
        path = floors.path_floor(mode)
        floor = path.propagation.p50 if path else 0.0
        what = f"same-path floor ({path.transport})" if path else "no same-path floor"
    else:
        parts = floor_parts(op, mode)
        floor = floors.p50_of(parts)
        what = " + ".join(parts)
    ratio = f"{stats.p50 / floor:.1f}×" if floor > 0 else "n/a"
    return [
        T(column),
        T(str(stats.n)),
        T(fmt_num(stats.p50)),
        T(fmt_num(stats.p95)),
        T(tail_text(stats)),
        T(fmt_num(stats.max)),
        T(spread_text(stats)),
        T(f"{fmt_num(floor)} ({what})"),
        T(ratio),
    ]


def latency_tables(results: Results, floors: Floors) -> list[Block]:
    """One table per operation: percentiles per mode beside their floor."""
    lats = measured_latency(results)
    blocks: list[Block] = []
    for op in OPERATIONS:
        rows = [r for c, lat in lats.items() if (r := _latency_row(results, floors, c, lat, op))]
        blocks.append(Heading(3, f"{OP_TITLES[op]} (ms)"))
        if not rows:
            blocks.append(
                Para(
                    "Not measured in any mode (lazy has no propagation: a user is "
                    "known at its first call)."
                    if op == "propagation"
                    else "Not measured."
                )
            )
            continue
        blocks.append(
            Table(
                [
                    "mode",
                    "n",
                    "p50",
                    "p95",
                    f"p99 (n ≥ {MIN_P99_SAMPLES:,}; else the max)",
                    "max",
                    "p50 across rounds",
                    "floor p50",
                    "p50 / floor",
                ],
                rows,
            )
        )
        if op == "propagation" and LAZY in cost_columns(results).values():
            blocks.append(Para("lazy: n/a, a user is known at its first call."))
        if op == "propagation":
            blocks += propagation_split(results, floors)
    return blocks


def propagation_split(results: Results, floors: Floors) -> list[Block]:
    """Propagation per stage, and each event mode against the same-path floor."""
    return [
        Heading(3, "Propagation by stage, and the same-path floor"),
        Para(stagereport.EXPLAINED),
        Table(
            stagereport.STAGE_HEADERS,
            [[T(c) for c in row] for row in stagereport.stage_rows(results, floors)],
            "Each stage's duration (ms) and its share of each sample's commit-to-commit time",
        ),
        Table(
            stagereport.FLOOR_HEADERS,
            [[T(c) for c in row] for row in stagereport.floor_rows(results, floors)],
            "Propagation against the same-path floor; the largest excess is the stage whose "
            "duration exceeds the floor's by the most (ms, this mode vs the floor)",
        ),
        Para(stagereport.counts_text(results, floors)),
    ]


def _tp(tp: Throughput) -> str:
    runs = f"{tp.requests} in {fmt_num(tp.duration_s)} s"
    return f"{fmt_num(tp.rps)} req/s at concurrency {tp.concurrency} ({runs})"


def throughput_table(results: Results, floors: Floors) -> Table:
    """Requests per second per mode, with the hashing ceiling of registration."""
    rows = [
        [
            T(c),
            T(_tp(lat.registration_throughput)),
            T(_tp(lat.steady_throughput)),
            T(_tp(lat.verify_throughput)),
        ]
        for c, lat in measured_latency(results).items()
    ]
    hashes = floors.hash_throughput
    rows.append([T("floor"), T(f"argon2id ceiling: {_tp(hashes)}"), T("—"), T("—")])
    return Table(["mode", "registration", "steady call", "verify only"], rows)


def floors_table(floors: Floors) -> Table:
    """The reference lines measured in the same run."""
    rows = []
    for name, title in FLOOR_TITLES.items():
        s: Stats = getattr(floors, name)
        rows.append(
            [
                T(name),
                T(title),
                T(str(s.n)),
                T(fmt_num(s.p50)),
                T(fmt_num(s.p95)),
                T(tail_text(s)),
                T(spread_text(s)),
            ]
        )
    return Table(
        ["floor", "what", "n", "p50 (ms)", "p95", "p99 (else the max)", "p50 across rounds"],
        rows,
    )


def latency_section(results: Results, charts: bool) -> list[Block]:
    """Section 2: latency and throughput, when the run measured them."""
    floors = results.floors
    if floors is None:
        return []
    blocks: list[Block] = [Heading(2, "2. Latency and throughput", "latency")]
    if charts and results.latency:
        blocks.append(Chart("Latency per mode and operation", latency_chart(results)))
    blocks += latency_tables(results, floors)
    blocks += [
        Heading(3, "Throughput"),
        throughput_table(results, floors),
        Heading(3, "Floors"),
        floors_table(floors),
    ]
    return blocks


def security_section(results: Results) -> list[Block]:
    """What the security measures cost, and login timing by kind of failure."""
    sec = results.security
    if sec is None:
        return []

    def row(what: str, s: Stats) -> list[T]:
        return [T(what), T(str(s.n)), T(fmt_num(s.p50)), T(fmt_num(s.p95)), T(fmt_num(s.max))]

    columns = ["", "n", "p50 (ms)", "p95", "max"]
    return [
        Heading(2, "Security: login timing and what the measures cost", "security"),
        Para(
            "Failed logins through the gateway, interleaved: an unknown user is checked against "
            "a dummy hash, so the three medians should differ by noise only (a gap would tell "
            "which accounts exist)."
        ),
        Table(
            ["failed login", *columns[1:]],
            [
                row("unknown user", sec.login_unknown),
                row("wrong password", sec.login_wrong_password),
                row("deactivated user", sec.login_deactivated),
            ],
        ),
        Para(
            "Per event, in process: auth signs each event it publishes; each consumer verifies "
            "each event it reads (propagation above includes both). PUBLISH round trips as the "
            "admin user and as auth's restricted ACL user show what the ACL check costs."
        ),
        Table(
            ["measure", *columns[1:]],
            [
                row(f"sign one event ({sec.event_alg})", sec.event_sign),
                row(f"verify one event ({sec.event_alg})", sec.event_verify),
                row("PUBLISH as admin", sec.publish_admin),
                row("PUBLISH as auth's ACL user", sec.publish_acl_user),
            ],
        ),
    ]


def _outcome_rows(scenario: Scenario, order: Sequence[str]) -> list[list[T]]:
    labels = _ordered_labels(scenario, order)
    rows = []
    for label in labels:
        run = scenario.runs[label]
        for name, c in run.consumers.items():
            rows.append(
                [
                    T(label),
                    T(name),
                    T(str(run.users)),
                    T(str(c.known)),
                    T(str(c.missed), "miss" if c.missed else ""),
                    T(fmt_s(c.time_to_consistent_s)),
                    T(str(c.duplicates), "miss" if c.duplicates else ""),
                    T(str(c.duplicates_ignored)),
                    T(str(c.unknown_user_refusals)),
                    T(str(c.welcome_messages)),
                ]
            )
    return rows


def reach_table(scenario: Scenario, order: Sequence[str]) -> Table:
    """Each run's users counted once: reached by their event, rescued, or never reached."""
    rows = []
    for label in _ordered_labels(scenario, order):
        run = scenario.runs[label]
        r = reach(run)
        per = ", ".join(f"{name} {n}" for name, n in r.never_per_consumer.items())
        late = [
            f"{name} {c.missed_at_first_check}"
            for name, c in run.consumers.items()
            if c.missed_at_first_check is not None
        ]
        rows.append(
            [
                T(label),
                T(str(r.users)),
                T(str(r.by_event)),
                T(str(r.rescued)),
                T(str(r.never), "miss" if r.never else ""),
                T(per),
                T(", ".join(late) if late else "—"),
            ]
        )
    return Table(
        [
            "variant",
            "users",
            "reached by their event",
            "rescued by the lazy fallback (lazy: its only path)",
            "never reached",
            "missed per consumer",
            "missing before waiting out a redelivery",
        ],
        rows,
        "Users, each counted once",
    )


def _figures_table(scenario: Scenario, order: Sequence[str]) -> Table | None:
    keys = list(dict.fromkeys(k for run in scenario.runs.values() for k in run.figures))
    if not keys:
        return None
    labels = _ordered_labels(scenario, order)
    rows = [[T(v), *[T(fmt_value(scenario.runs[v].figures.get(k))) for k in keys]] for v in labels]
    return Table(["variant", *keys], rows, "Figures")


def scenario_blocks(scenario: Scenario, order: Sequence[str], charts: bool) -> list[Block]:
    """One scenario: its question, outcomes per variant and consumer, figures and notes."""
    blocks: list[Block] = [
        Heading(3, f"Scenario {scenario.id}: {scenario.title}", f"scenario-{scenario.id}"),
        Para(scenario.question),
        Table(
            [
                "variant",
                "consumer",
                "users",
                "known",
                "missed",
                "time to consistent",
                "duplicates",
                "duplicates ignored",
                "unknown_user refusals",
                "welcome messages",
            ],
            _outcome_rows(scenario, order),
        ),
        reach_table(scenario, order),
    ]
    if charts and scenario.id in AWARENESS_SCENARIOS and scenario.runs:
        blocks.append(
            Chart(
                f"Scenario {scenario.id}: users known over time", awareness_chart(scenario, order)
            )
        )
    if (figures := _figures_table(scenario, order)) is not None:
        blocks.append(figures)
    if notes := grouped_notes(scenario, order):
        blocks.append(Bullets(notes))
    return blocks


def grouped_notes(scenario: Scenario, order: Sequence[str]) -> list[T]:
    """Each distinct note once, with the variants that made it."""
    by_note: dict[str, list[str]] = {}
    for label in _ordered_labels(scenario, order):
        for note in scenario.runs[label].notes:
            by_note.setdefault(note, []).append(label)
    everyone = len(scenario.runs)
    return [
        T(f"{note} ({'all variants' if len(labels) == everyone > 1 else ', '.join(labels)})")
        for note, labels in by_note.items()
    ]


def consistency_section(results: Results, charts: bool) -> list[Block]:
    """Section 3: consistency under faults."""
    order = list(variant_modes(results))
    blocks: list[Block] = [
        Heading(2, "3. Consistency under faults", "consistency"),
        Para(
            "pubsub and direct publishing lose events by design; their losses are shown, "
            "not hidden. A miss or a duplicate is marked."
        ),
    ]
    for scenario in sorted(results.scenarios, key=lambda s: s.id):
        blocks += scenario_blocks(scenario, order, charts)
    if not results.scenarios:
        blocks.append(Para("No scenario ran."))
    return blocks


def environment_section(results: Results) -> list[Block]:
    """The machine, versions, commit and settings of the run."""
    meta: list[tuple[str, Any]] = [
        ("generated_at", results.generated_at),
        ("schema_version", results.schema_version),
        ("quick", results.quick),
        ("duration_s", results.duration_s),
        ("modes", ", ".join(results.modes)),
    ]
    rows = [[T(k), T(fmt_value(v))] for k, v in meta + flatten(results.environment)]
    return [Heading(2, "Environment", "environment"), Table(["item", "value"], rows)]


def reliability_section(results: Results, charts: bool) -> list[Block]:
    """Section 4, when the run had one: sustained load with faults."""
    if not results.reliability:
        return []
    return reliability_report.section(results.reliability, charts)


def beyond_one_machine(results: Results) -> list[Block]:
    """Replicas and failover, when the run measured them."""
    return [*scalereport.replicas_section(results), *scalereport.failover_section(results)]


def scale_section(results: Results) -> list[Block]:
    """Catch-up against its floor and a lazy consumer's memory, when the run measured them."""
    if results.catchup is None and results.memory is None:
        return []
    return capacityreport.section(results)


def missed_chart(results: Results) -> bytes:
    """Users never reached, variant by scenario: the report's headline picture."""
    missed = overview.users_missed(results)
    labels = list(missed)
    ids = sorted({sid for row in missed.values() for sid in row})
    fig = Figure(figsize=(1.0 + 0.62 * len(ids), 0.9 + 0.42 * len(labels)))
    ax = fig.subplots()
    grid = [[missed[label].get(sid, -1) for sid in ids] for label in labels]
    top = max([1, *(v for row in grid for v in row)])
    shown = [[v if v >= 0 else float("nan") for v in row] for row in grid]
    ax.imshow(shown, cmap="Reds", vmin=0, vmax=top, aspect="auto")
    for y, row in enumerate(grid):
        for x, value in enumerate(row):
            text = "–" if value < 0 else str(value)
            color = "white" if value > top * 0.6 else "black"
            ax.text(x, y, text, ha="center", va="center", fontsize=9, color=color)
    ax.set_xticks(range(len(ids)), [str(i) for i in ids], fontsize=8)
    ax.set_yticks(range(len(labels)), labels, fontsize=8)
    ax.set_xlabel("scenario (see section 3; – : not run)", fontsize=9)
    ax.set_title("Users never reached, per mode and scenario", fontsize=10)
    fig.tight_layout()
    return png(fig)


def overview_section(results: Results, charts: bool) -> list[Block]:
    """Which mode when, from this run's figures, and the users-missed headline chart."""
    rows = [
        [T(row.situation), T(row.choose), T(row.figure)]
        for row in overview.which_mode_when(results)
    ]
    blocks: list[Block] = [Heading(2, "Which mode when", "which-mode-when")]
    if rows:
        blocks.append(Table(["situation", "choose", "deciding figure (this run)"], rows))
    if charts and results.scenarios:
        blocks.append(Chart("Users never reached, per mode and scenario", missed_chart(results)))
    return blocks


def tokens_section(results: Results) -> list[Block]:
    """Packed attributes and encrypted tokens: size, cost per call, and the verdict."""
    costs = results.token_costs
    if costs is None:
        return []
    rows = [[T(cell) for cell in row] for row in tokenreport.encryption_rows(costs)]
    return [
        Heading(2, "Tokens: packing attributes and encrypting", "tokens"),
        Para(tokenreport.packing_verdict(results)),
        Table(tokenreport.TOKEN_HEADERS, rows, "Token size and per-call cost (in process)"),
        Para(
            f"Per 100 bytes of packed attributes: +{costs.header_bytes_per_100_bytes:.0f} header "
            f"bytes, {costs.verify_us_per_100_bytes:+.1f} µs verify, "
            f"+{costs.sealed_bytes_per_100_bytes:.0f} encrypted-token bytes, "
            f"{costs.decrypt_verify_us_per_100_bytes:+.1f} µs decrypt + verify "
            f"(least-squares slopes over {len(costs.points)} packings, median of "
            f"{costs.samples_per_point} calls each)."
        ),
        Para(tokenreport.gateway_text(costs)),
        Para(tokenreport.ENCRYPTION_HIDES),
    ]


def document(results: Results, charts: bool = True) -> list[Block]:
    """The whole report, verdict first."""
    title = Heading(1, "Discovery lab: lazy discovery vs. events, measured")
    body: list[Block] = [
        *overview_section(results, charts),
        *verdict_section(results, verdict(results)),
        *codesize_section(results, charts),
        *latency_section(results, charts),
        *consistency_section(results, charts),
        *tokens_section(results),
        *reliability_section(results, charts),
        *beyond_one_machine(results),
        *scale_section(results),
        *security_section(results),
        *environment_section(results),
    ]
    sections = [
        (b.anchor or slug(b.text), b.text) for b in body if isinstance(b, Heading) and b.level == 2
    ]
    return [title, Contents(sections), *body]


# --- markdown ---


def render_results(results: Results, out_dir: Path, *, charts: bool = True) -> tuple[Path, Path]:
    """Write report.md and report.html for these results into out_dir."""
    return write(document(results, charts), out_dir)


def render(results_dir: Path) -> tuple[Path, Path]:
    """Read results_dir/results.json, validate it, and write the reports beside it."""
    raw = (results_dir / "results.json").read_text(encoding="utf-8")
    return render_results(Results.model_validate_json(raw), results_dir)
