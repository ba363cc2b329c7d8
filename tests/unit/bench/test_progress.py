"""The benchmark's progress display: steps counted against the plan, on a terminal or not."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from bench.progress import bench_progress


@pytest.mark.parametrize("terminal", [False, True])
def test_steps_are_counted_against_the_plan_and_may_outrun_it(terminal: bool) -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=terminal, width=100)
    with bench_progress(console) as steps:
        steps.plan(2)
        for what in ("code size", "floors", "one more than planned"):
            steps.step(what)
        if terminal:
            assert steps.bar is not None
            (task,) = steps.bar.tasks
            assert task.total == 3 and task.completed == 2
            assert task.description == "one more than planned"
    text = out.getvalue()
    assert "1/2" in text and "2/2" in text and "3/3" in text and "one more than planned" in text
