"""The report section of code size: the code, processes and settings each mode needs."""

from __future__ import annotations

from matplotlib.figure import Figure

from bench.parts.codesize.verdict import codesize_of
from bench.report import (
    Block,
    Chart,
    Heading,
    Para,
    T,
    Table,
)
from bench.report.charts import png
from bench.results import (
    CodeSize,
    Results,
)
from bench.verdict import cost_columns


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


def section(results: Results, charts: bool) -> list[Block]:
    """Section 1: code size and moving parts, unless the run's plan left them out."""
    if results.parts and "codesize" not in results.parts:
        return []
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
