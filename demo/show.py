"""The demo on a terminal with rich: each arrow as it happens, then the side-by-side tables."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

from rich import box
from rich.console import Console
from rich.table import Table

from common.settings import CONSUMER_SERVICES
from demo.acts import Act
from demo.run import Demo, comparison
from demo.story import Step


class Silent:
    """A presenter that shows nothing (the --json run prints one document at the end)."""

    def heading(self, text: str) -> None:
        return None

    def note(self, text: str) -> None:
        return None

    def step(self, step: Step) -> None:
        return None


@dataclass
class Terminal:
    """Prints each step; with `wait`, waits (for Enter) before each arrow."""

    console: Console
    wait: Callable[[str], None] | None = None

    def heading(self, text: str) -> None:
        self.console.rule(f"[bold]{text}[/bold]", align="left")

    def note(self, text: str) -> None:
        self.console.print(f"[bold]→ {text}[/bold]", highlight=False)

    def step(self, step: Step) -> None:
        if self.wait and step.depth == 0:
            self.wait(f"{step.arrow}: {step.what}")
        ms = f"{step.ms:9.2f} ms" if step.ms is not None else " " * 12
        status = ""
        if step.status is not None:
            style = "green" if step.status < 400 else "red"
            status = f" [{style}]{step.status}[/{style}]"
        indent = "    " * step.depth
        arrow = f"[cyan]{step.arrow}[/cyan]" if step.depth == 0 else f"[dim]{step.arrow}[/dim]"
        self.console.print(f"{ms}  {indent}{arrow}: {step.what}{status}", highlight=False)
        if step.depth == 0 and "header" in step.detail:
            for key in ("header", "claims"):
                text = json.dumps(step.detail[key], separators=(", ", ": "))
                self.console.print(f"{'':12}      {key}: {text}", highlight=False)


def _call_cell(call: dict[str, object]) -> str:
    status = call.get("status")
    how = call.get("discovered_by") or call.get("error") or ""
    style = "green" if isinstance(status, int) and status < 400 else "red"
    return f"[{style}]{status}[/{style}] {how}"


def tables(demo: Demo, console: Console) -> None:
    """The side-by-side comparison of every mode that ran."""
    rows = comparison(demo)
    table = Table(title="The same story in every mode", box=box.SIMPLE_HEAD)
    table.add_column("", style="bold")
    for row in rows:
        table.add_column(f"{row['mode']} ({row['publish']})")
    table.add_row("register", *[f"{r['register_ms']:.0f} ms" for r in rows])
    table.add_row("login", *[f"{r['login_ms']:.0f} ms" for r in rows])
    for service in CONSUMER_SERVICES:
        table.add_row(
            f"first call: {service}", *[_call_cell(r["first_calls"][service]) for r in rows]
        )
    for title in rows[0]["acts"] if rows else []:
        acts = {a.mode: a for a in demo.acts if a.act == title}
        table.add_row(f"what if {title}?", *[_act_cell(acts.get(r["mode"])) for r in rows])
    console.print(table)
    console.print("each act's cell: what the service knew at the end → what the user got from it")


def _act_cell(act: Act | None) -> str:
    if act is None or not act.user_saw:
        return act.outcome if act else ""
    lines = []
    for service in CONSUMER_SERVICES:
        k = act.knows.get(service)
        knew = "—" if k is None else "?" if k.get("unreachable") else str(k["by"])
        if k and k.get("active") is False:
            knew += ", deactivated"
        lines.append(f"{service}: {knew} → {_call_cell(act.user_saw.get(service, {}))}")
    return "\n".join(lines)
