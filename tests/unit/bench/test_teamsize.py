"""Code a team keeps per mode: mechanical, and it follows the source."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.parts.codesize.measure import measure, project_root
from bench.parts.codesize.team import (
    compose_service_lines,
    event_lines,
    own_of_any_mode,
    project_test_files,
)
from bench.results import CodeSize, TeamSize


def team(size: CodeSize) -> TeamSize:
    assert size.team is not None  # measured now; only an older results.json lacks it
    return size.team


@pytest.fixture(scope="module")
def real() -> dict[str, CodeSize]:
    return measure(project_root())


def test_a_lazy_only_build_is_charged_for_no_event_code(real: dict[str, CodeSize]) -> None:
    lazy = team(real["lazy"])
    assert lazy.shared_event_sloc == 0 and lazy.config_sloc == 0
    assert lazy.product_sloc < min(team(real[v]).product_sloc for v in real if v != "lazy")
    events = [m for m in real["lazy"].consumer_modules if m.module.startswith("events")]
    assert not events
    # the old count charged lazy for the event handling in shared modules: exactly that is gone
    assert real["lazy"].total_sloc == lazy.plumbing_sloc + lazy.product_sloc + sum(
        len(event_lines(project_root(), m.module)) for m in real["lazy"].consumer_modules
    ) + sum(len(event_lines(project_root(), m.module)) for m in real["lazy"].auth_modules)


def test_plumbing_is_one_figure_for_every_mode(real: dict[str, CodeSize]) -> None:
    assert len({team(v).plumbing_sloc for v in real.values()}) == 1
    assert len({team(v).plumbing_tests_sloc for v in real.values()}) == 1
    for label in ("pubsub+direct", "streams+outbox", "hybrid+outbox"):
        kept = team(real[label])
        assert kept.shared_event_sloc > 0 and "asyncapi.yaml" in kept.config_files


def test_every_test_file_is_counted_somewhere(real: dict[str, CodeSize]) -> None:
    root = project_root()
    counted = {f for v in real.values() for f in team(v).test_files}
    plumbing = team(real["lazy"]).plumbing_tests_sloc
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
        grew = team(after[label]).shared_event_sloc - team(before[label]).shared_event_sloc
        assert grew == 3  # the function's two lines and the import
    assert team(after["lazy"]).product_sloc == team(before["lazy"]).product_sloc
    assert team(after["lazy"]).plumbing_sloc == team(before["lazy"]).plumbing_sloc


def test_a_compose_service_block_is_counted_alone() -> None:
    text = "services:\n  valkey:\n    image: v\n    # note\n    ports: [1]\n  auth:\n    image: a\n"
    assert compose_service_lines(text, "valkey") == 3
    assert compose_service_lines(text, "auth") == 2
