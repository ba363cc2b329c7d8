"""Code a team keeps per mode: mechanical, and it follows the source."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.codesize import CodeSizeDict, measure, project_root
from bench.teamsize import (
    compose_service_lines,
    event_lines,
    own_of_any_mode,
    project_test_files,
)


@pytest.fixture(scope="module")
def real() -> dict[str, CodeSizeDict]:
    return measure(project_root())


def test_a_lazy_only_build_is_charged_for_no_event_code(real: dict[str, CodeSizeDict]) -> None:
    lazy = real["lazy"]["team"]
    assert lazy["shared_event_sloc"] == 0 and lazy["config_sloc"] == 0
    assert lazy["product_sloc"] < min(real[v]["team"]["product_sloc"] for v in real if v != "lazy")
    events = [m for m in real["lazy"]["consumer_modules"] if m["module"].startswith("events")]
    assert not events
    # the old count charged lazy for the event handling in shared modules: exactly that is gone
    assert real["lazy"]["total_sloc"] == lazy["plumbing_sloc"] + lazy["product_sloc"] + sum(
        len(event_lines(project_root(), m["module"])) for m in real["lazy"]["consumer_modules"]
    ) + sum(len(event_lines(project_root(), m["module"])) for m in real["lazy"]["auth_modules"])


def test_plumbing_is_one_figure_for_every_mode(real: dict[str, CodeSizeDict]) -> None:
    assert len({v["team"]["plumbing_sloc"] for v in real.values()}) == 1
    assert len({v["team"]["plumbing_tests_sloc"] for v in real.values()}) == 1
    for label in ("pubsub+direct", "streams+outbox", "hybrid+outbox"):
        team = real[label]["team"]
        assert team["shared_event_sloc"] > 0 and "asyncapi.yaml" in team["config_files"]


def test_every_test_file_is_counted_somewhere(real: dict[str, CodeSizeDict]) -> None:
    root = project_root()
    counted = {f for v in real.values() for f in v["team"]["test_files"]}
    plumbing = real["lazy"]["team"]["plumbing_tests_sloc"]
    assert counted and plumbing > 0
    assert {str(p.relative_to(root)) for p in project_test_files(root)} >= counted
    assert "consumers.discovery.lazy" in own_of_any_mode(root)


def test_event_code_in_a_shared_module_follows_the_source(project_copy: Path) -> None:
    before = measure(project_copy)
    shared = project_copy / "consumers" / "store.py"
    with shared.open("a") as fh:
        fh.write("\n\ndef _probe(e: object) -> object:\n    return CloudEvent\n")
        fh.write("\n\nfrom events.model import CloudEvent  # noqa\n")
    after = measure(project_copy)
    for label in ("pubsub+direct", "streams+outbox"):
        grew = (
            after[label]["team"]["shared_event_sloc"] - before[label]["team"]["shared_event_sloc"]
        )
        assert grew == 3  # the function's two lines and the import
    assert after["lazy"]["team"]["product_sloc"] == before["lazy"]["team"]["product_sloc"]
    assert after["lazy"]["team"]["plumbing_sloc"] == before["lazy"]["team"]["plumbing_sloc"]


def test_a_compose_service_block_is_counted_alone() -> None:
    text = "services:\n  valkey:\n    image: v\n    # note\n    ports: [1]\n  auth:\n    image: a\n"
    assert compose_service_lines(text, "valkey") == 3
    assert compose_service_lines(text, "auth") == 2
