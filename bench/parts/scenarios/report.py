"""The report section of scenarios: who learns of a user, and when, in each scenario."""

from __future__ import annotations

from collections.abc import Sequence

from matplotlib.figure import Figure

from bench.parts.scenarios.names import ScenarioId
from bench.reach import reach
from bench.report import (
    Block,
    Bullets,
    Chart,
    Heading,
    Para,
    T,
    Table,
    fmt_s,
    fmt_value,
)
from bench.report.charts import colors, png
from bench.results import (
    Results,
    Scenario,
)
from bench.verdict import (
    variant_modes,
)

AWARENESS_SCENARIOS = (
    ScenarioId.STEADY,
    ScenarioId.CONSUMER_OFFLINE,
    ScenarioId.VALKEY_DOWN,
    ScenarioId.SLOW_SUBSCRIBER,
    ScenarioId.LATE_SERVICE,
)


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


def section(results: Results, charts: bool) -> list[Block]:
    """Section 3: consistency under faults, unless the run's plan left the scenarios out."""
    if results.parts and "scenarios" not in results.parts:
        return []
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
