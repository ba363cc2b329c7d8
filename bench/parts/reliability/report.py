"""The report's reliability section: load figures, answers by status, RSS over time, promises."""

from __future__ import annotations

from typing import Any

from matplotlib.figure import Figure

from bench.report import Block, Chart, Heading, Para, T, Table, fmt_value
from bench.report.charts import colors, png
from bench.results import ReliabilityRun, Results

COMMAND = "discovery-lab bench --with reliability"


def _errors(statuses: dict[str, int]) -> str:
    """Answers other than 2xx, as 'kind status ×count'."""
    bad = {k: v for k, v in statuses.items() if not k.rsplit(" ", 1)[-1].startswith("2")}
    return ", ".join(f"{k} ×{v}" for k, v in sorted(bad.items())) or "none"


def _promise(run: ReliabilityRun) -> T:
    p = run.promise
    if p["promised"]:
        text = "kept" if p["kept"] else f"BROKEN: {p['lost']} of {p['users']} users lost"
        return T(text, "met" if p["kept"] else "miss")
    return T(f"none made; {p['lost']} of {p['users']} users lost, counted")


def _fault(fault: dict[str, Any]) -> str:
    text = f"{fault['kind']}({fault['target']})@{fault['at_s']}s"
    back = fault.get("back_after_s")
    return text if back is None else f"{text}, back after {back}s"


def _load_row(run: ReliabilityRun) -> list[T]:
    total = run.load["total"]
    faults = ", ".join(_fault(f) for f in run.faults)
    return [
        T(run.variant),
        T(fmt_value(total["requests"])),
        T(fmt_value(total["rps"])),
        T(fmt_value(total["p50_ms"])),
        T(fmt_value(total["p99_ms"])),
        T(_errors(run.load["statuses"])),
        T(faults or "none"),
        _promise(run),
    ]


def _rss_rows(run: ReliabilityRun) -> list[list[T]]:
    names = sorted({k for sample in run.rss_mb for k in sample if k != "t_s"})
    rows = []
    for name in names:
        values = [s[name] for s in run.rss_mb if name in s]
        cells = [values[0], max(values), values[-1]]
        rows.append([T(run.variant), T(name), *(T(fmt_value(v)) for v in cells)])
    return rows


def rss_chart(run: ReliabilityRun) -> bytes:
    """RSS of each process over the run, with the faults marked."""
    fig = Figure(figsize=(9, 3.2))
    ax = fig.add_subplot()
    names = sorted({k for sample in run.rss_mb for k in sample if k != "t_s"})
    palette = colors(names)
    for name in names:
        points = [(s["t_s"], s[name]) for s in run.rss_mb if name in s]
        ax.plot([t for t, _ in points], [v for _, v in points], label=name, color=palette[name])
    for fault in run.faults:
        ax.axvline(fault["at_s"], color="grey", linestyle=":", linewidth=1)
    ax.set_xlabel("s since the load started (dotted: a fault)")
    ax.set_ylabel("RSS MiB")
    ax.set_title(f"{run.variant}: RSS per process")
    ax.legend(fontsize=7, ncol=3)
    fig.tight_layout()
    return png(fig)


def section(results: Results, charts: bool) -> list[Block]:
    """Section 4, when the run had one: a table of load and promises, one of memory, a chart per
    variant."""
    runs = results.reliability
    if not runs:
        return []
    plan = runs[0].plan
    blocks: list[Block] = [
        Heading(2, "4. Reliability under sustained load", "reliability"),
        Para(
            f"locust drives the gateway for {plan['duration_s']:g} s per variant with "
            f"{plan['users']} simulated people (mostly authenticated calls, some logins, some "
            f"registrations) while {plan['faults']} faults are injected at random points: kill -9 "
            "of a random process, Valkey stopped and started, Valkey's connections killed. "
            "Afterwards every mode is held to its own promise. Answers during a fault (502 from "
            "the gateway, no answer while it restarts) are shown, not hidden. "
            f"Run it with `{COMMAND}`."
        ),
        Table(
            [
                "variant",
                "requests",
                "req/s",
                "p50 ms",
                "p99 ms",
                "non-2xx answers",
                "faults",
                "promise",
            ],
            [_load_row(r) for r in runs],
        ),
        Table(
            ["variant", "process", "RSS MiB first", "peak", "last"],
            [row for r in runs for row in _rss_rows(r)],
            caption="Resident memory of each process (with its children), sampled during the run.",
        ),
    ]
    if charts:
        blocks += [Chart(f"RSS over time: {r.variant}", rss_chart(r)) for r in runs if r.rss_mb]
    return blocks
