"""How a benchmark run shows its progress: a rich bar with an ETA on a terminal, lines elsewhere."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Column


class StepProgress:
    """Counts the run's steps: `plan(n)` once, then `step(what)` as each step starts."""

    def __init__(self, console: Console, bar: Progress | None) -> None:
        self.console = console
        self.bar = bar
        self.task = bar.add_task("starting", total=None) if bar else None
        self.started = time.perf_counter()
        self.total = 0
        self.done = 0  # steps started so far; the current one is not finished

    def plan(self, total: int) -> None:
        self.total = total
        if self.bar and self.task is not None:
            self.bar.update(self.task, total=total)

    def step(self, what: str) -> None:
        self.done += 1
        self.total = max(self.total, self.done)  # a step more than planned stretches the bar
        elapsed = time.perf_counter() - self.started
        if self.bar and self.task is not None:
            self.bar.update(self.task, completed=self.done - 1, total=self.total, description=what)
        self.console.print(
            f"[dim]{elapsed:6.1f}s {self.done:>3}/{self.total}[/dim] {what}", highlight=False
        )


@contextmanager
def bench_progress(console: Console) -> Iterator[StepProgress]:
    """A StepProgress that draws a live bar while the block runs, if console is a terminal."""
    if not console.is_terminal:
        yield StepProgress(console, None)
        return
    bar = Progress(  # fits 80 columns: the full step is also printed above the bar
        TextColumn(
            "[bold]{task.description}",
            table_column=Column(width=30, no_wrap=True, overflow="ellipsis"),
        ),
        BarColumn(bar_width=20),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    )
    with bar:
        yield StepProgress(bar.console, bar)
