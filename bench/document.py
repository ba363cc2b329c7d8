"""The report: every section of results.json assembled, verdict first, and written to disk."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from bench import overview
from bench.catalog import PARTS, verdict
from bench.report import (
    Block,
    Chart,
    Contents,
    Heading,
    Para,
    T,
    Table,
    flatten,
    fmt_num,
    fmt_value,
    slug,
    write,
)
from bench.report.charts import png
from bench.results import (
    MIN_P99_SAMPLES,
    Results,
    Target,
)
from bench.verdict import Axis, Claim, Verdict

STATUS_MARK = {
    "supported": "[OK]",
    "partly": "[PARTLY]",
    "contradicted": "[NO]",
    "unmeasured": "[N/A]",
}


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


def document(results: Results, charts: bool = True) -> list[Block]:
    """The whole report, verdict first."""
    title = Heading(1, "Discovery lab: lazy discovery vs. events, measured")
    body: list[Block] = [
        *overview_section(results, charts),
        *verdict_section(results, verdict(results)),
        *(block for part in PARTS for block in part.section(results, charts)),
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
