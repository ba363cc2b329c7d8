"""The whole demo: the diagram in each mode, the "what if" acts, and one comparison."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from common.settings import Mode, publish_label
from demo.acts import ACTS, Act, play
from demo.story import Presenter, Recorder, Story, tell
from lab.client import LabClient
from lab.processes import Stack


@dataclass
class Demo:
    """Every story and act of one run."""

    modes: list[str]
    stories: list[Story] = field(default_factory=list)
    acts: list[Act] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "modes": self.modes,
            "stories": [asdict(s) for s in self.stories],
            "acts": [asdict(a) for a in self.acts],
            "comparison": comparison(self),
        }


def comparison(demo: Demo) -> list[dict[str, Any]]:
    """One row per mode: the story's timings and first calls, then each act's outcome."""
    rows = []
    for story in demo.stories:
        row: dict[str, Any] = {
            "mode": story.mode,
            "publish": story.publish,
            "register_ms": round(story.register_ms or 0, 1),
            "login_ms": round(story.login_ms or 0, 1),
            "first_calls": story.calls,
            "acts": {a.act: a.outcome for a in demo.acts if a.mode == story.mode},
        }
        rows.append(row)
    return rows


def run_demo(stack: Stack, client: LabClient, modes: list[Mode], presenter: Presenter) -> Demo:
    """For each mode: switch the stack, tell the story, play every act; restore the mode after."""
    before = stack.settings
    demo = Demo([m.value for m in modes])
    try:
        for mode in modes:
            publish = publish_label(mode, None)
            stack.set_mode(mode, None)
            presenter.heading(f"mode {mode.value} (publish {publish}): the seed's diagram")
            demo.stories.append(tell(client, stack.settings, mode.value, publish, presenter))
            for title in ACTS:
                presenter.heading(f"mode {mode.value}, what if {title}?")
                act = play(title, stack, client, mode.value, publish, Recorder(presenter))
                presenter.note(act.outcome)
                demo.acts.append(act)
    finally:
        stack.set_mode(before.mode, before.lab_publish)
    return demo
