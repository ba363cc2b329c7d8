"""The scale figures: catch-up and memory results, their shape in results.json and their
section of the report."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.document import document
from bench.parts.capacity.memory import checkpoints, slope_kb
from bench.report import to_markdown
from bench.results import CatchUp, Memory, MemoryRun, Results, Stats

FIXTURE = Path(__file__).parent / "fixtures" / "results.json"


def _catchup(events_per_s: float, floor: float) -> CatchUp:
    return CatchUp(
        events=1000,
        batch=100,
        events_per_s=events_per_s,
        seconds=1000 / events_per_s,
        floor_events_per_s=floor,
        floors=[{"read_s": 0.05, "insert_s": 0.01, "events_per_s": floor}],
        ratio=round(events_per_s / floor, 3),
        target_ratio=0.3,
        target_events_per_s=5000,
        batch_ms=Stats.of([10.0, 12.0, 30.0]),
        stages_us={"verify_us": 120.0, "apply_us": 40.0},
        known_users=1000,
        records=1000,
        pending_after=0,
        dead_lettered=0,
        event_bytes=700,
        environment={"cpu_count": 2, "jwt_alg": "RS256"},
    )


def _run(points: list[tuple[int, float]]) -> MemoryRun:
    return MemoryRun(
        where="test",
        idle_mb=points[0][1],
        points=points,
        per_user={"cached": 10, "seen": 100, "blocked": 0, "tokens": 50},
        known_users=points[-1][0],
        seconds=1.0,
    )


def _memory(delta: float) -> Memory:
    child = _run([(0, 100.0), (100, 101.0), (1000, 100.0 + delta)])
    return Memory(
        users=1000,
        http_users=100,
        idle_mb=100.0,
        at_users_mb=100.0 + delta,
        delta_mb=delta,
        target_delta_mb=100.0,
        slope_range=(10, 100),
        http=_run([(0, 90.0), (10, 90.5), (100, 91.0)]),
        in_process=child,
        bounds={"lab_known_cache_size": 100, "lab_token_cache_size": 50},
        known_cache_ttl_s=1.0,
    )


def test_targets_follow_the_figures() -> None:
    assert _catchup(6000, 15000).met
    assert not _catchup(4000, 10000).met  # the ratio holds, the rate does not
    assert not _catchup(6000, 30000).met  # the rate holds, the ratio does not
    assert _memory(99.0).met and not _memory(101.0).met


def test_results_keep_both_sections() -> None:
    base = Results.model_validate_json(FIXTURE.read_text(encoding="utf-8"))
    assert base.catchup is None and base.memory is None  # older results still load
    full = base.model_copy(update={"catchup": _catchup(6000, 15000), "memory": _memory(20.0)})
    again = Results.model_validate_json(full.model_dump_json())
    assert again.catchup == full.catchup and again.memory == full.memory


@pytest.mark.parametrize(("rate", "mark"), [(6000, "[met]"), (2000, "[MISS]")])
def test_the_report_has_a_scale_section(rate: float, mark: str) -> None:
    base = Results.model_validate_json(FIXTURE.read_text(encoding="utf-8"))
    assert "At scale" not in to_markdown(document(base, charts=False))
    results = base.model_copy(update={"catchup": _catchup(rate, 15000), "memory": _memory(20.0)})
    md = to_markdown(document(results, charts=False))
    section = md[md.index("## At scale") :]
    assert "Catch-up" in section and "Memory" in section
    assert f"{rate:,}" in section and mark in section
    assert section.count("discovery-lab bench --part capacity") == 2
    assert "per-user structure" in section and "+20.0 MiB" in section


def test_the_catch_up_section_shows_the_verified_floor() -> None:
    base = Results.model_validate_json(FIXTURE.read_text(encoding="utf-8"))
    caught = _catchup(6000, 15000).model_copy(
        update={"verified_floor_events_per_s": 8000.0, "verified_ratio": 0.75}
    )
    md = to_markdown(document(base.model_copy(update={"catchup": caught}), charts=False))
    section = md[md.index("## At scale") :]
    assert "| verified floor events/s | 8,000 |" in section
    assert "| ratio to the verified floor | 0.750 |" in section


def test_checkpoints_and_slopes() -> None:
    assert checkpoints(1000) == [0, 100, 200, 500, 1000]
    assert checkpoints(1_000_000)[-3:] == [200_000, 500_000, 1_000_000]
    run = _run([(0, 50.0), (100, 51.0), (200, 52.0), (300, 53.0)])
    assert slope_kb(run, 100, 300) == pytest.approx(1024 / 100)
    assert slope_kb(run, 300, 300) == 0.0  # one point: no slope
