"""The report: rendered from a stored results.json, verdict first, self-contained, honest."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from bench.catalog import verdict
from bench.document import render, render_results
from bench.results import ReplicaResults, Results
from bench.verdict import Axis, Claim

FIXTURE = Path(__file__).parent / "fixtures" / "results.json"


@pytest.fixture(scope="module")
def results() -> Results:
    """The stored fixture, validated against the schema."""
    return Results.model_validate_json(FIXTURE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """The output dir, report.md and report.html, rendered once from the fixture."""
    out = tmp_path_factory.mktemp("report")
    shutil.copy(FIXTURE, out / "results.json")
    md_path, html_path = render(out)
    return out, md_path, html_path


@pytest.fixture(scope="module")
def rendered(written: tuple[Path, Path, Path]) -> tuple[str, str]:
    """The text of report.md and report.html."""
    _, md_path, html_path = written
    return md_path.read_text(encoding="utf-8"), html_path.read_text(encoding="utf-8")


def _axis(axes: tuple[Axis, ...], prefix: str) -> Axis:
    return next(a for a in axes if a.label.startswith(prefix))


def _claim(results: Results, title: str) -> Claim:
    return next(c for c in verdict(results).claims if c.title == title)


def test_fixture_is_small_and_complete(results: Results) -> None:
    assert FIXTURE.stat().st_size < 200_000
    assert set(results.modes) == {"lazy", "pubsub", "streams", "hybrid"}
    assert sorted(s.id for s in results.scenarios) == list(range(1, 11))
    assert any(t.met for t in results.targets) and any(not t.met for t in results.targets)


def test_both_files_written(written: tuple[Path, Path, Path]) -> None:
    out, md_path, html_path = written
    assert md_path == out / "report.md" and md_path.stat().st_size > 0
    assert html_path == out / "report.html" and html_path.stat().st_size > 0


def test_html_is_self_contained(rendered: tuple[str, str]) -> None:
    _, html = rendered
    assert not re.search(r"""(?:src|href)\s*=\s*["']?\s*(?:[a-z]+:)?//""", html, re.IGNORECASE)
    assert "<script" not in html.lower()
    assert html.count("data:image/png;base64,") >= 3


def test_which_mode_when_opens_then_the_verdict(rendered: tuple[str, str]) -> None:
    md, html = rendered
    assert re.findall(r"^## (.+)$", md, re.MULTILINE)[:2] == ["Which mode when", "Verdict"]
    h2 = re.findall(r"<h2[^>]*>(.*?)</h2>", html)
    assert h2[:2] == ["Which mode when", "Verdict"]
    assert html.index("Users never reached") < html.index('<h2 id="codesize">')
    # contents, before the first section, linking every section
    contents = md[: md.index("## Which mode when")]
    for anchor in ("which-mode-when", "verdict", "codesize", "latency", "consistency"):
        assert f"](#{anchor})" in contents and f'id="{anchor}"' in html, anchor


def test_charts_are_files_beside_the_report_at_twice_the_density(tmp_path: Path) -> None:
    shutil.copy(FIXTURE, tmp_path / "results.json")
    md_path, _ = render(tmp_path)
    md = md_path.read_text(encoding="utf-8")
    files = re.findall(r"!\[[^\]]*\]\((chart-[a-z0-9-]+\.png)\)", md)
    assert files and files[0] == "chart-users-never-reached-per-mode-and-scenario.png"
    from PIL import Image

    for name in files:
        with Image.open(tmp_path / name) as image:
            assert image.info["dpi"][0] > 190, name


def test_every_mode_and_variant_appears(results: Results, rendered: tuple[str, str]) -> None:
    md, html = rendered
    for name in [*results.modes, *results.variants]:
        assert name in md and name in html, name
    first_table = html[: html.index("</table>")]
    for mode in results.modes:
        assert mode in first_table, mode


def test_missed_targets_are_marked(results: Results, rendered: tuple[str, str]) -> None:
    md, html = rendered
    for target in results.targets:
        name = re.escape(target.name)
        if target.met:
            continue
        assert re.search(rf'<td class="miss">{name}</td>', html)
        assert re.search(rf"\*\*{name}\*\* \[MISS\]", md)
    missed = sum(1 for t in results.targets if not t.met)
    assert html.count('<td class="miss">MISSED</td>') == missed
    assert html.count('<td class="met">met</td>') == len(results.targets) - missed


def test_status_marks_are_text_not_emoji(rendered: tuple[str, str]) -> None:
    for page in rendered:
        # emoji blocks, and the check marks, crosses and circles drawn as emoji
        assert not re.search("[\U0001f300-\U0001faff\u2705\u274c\u26aa\u26ab\u2b55]", page)


def test_winners_follow_the_figures(results: Results) -> None:
    assert _axis(verdict(results).mode_axes, "Total SLOC").winners == ("lazy",)
    bigger = results.model_copy(deep=True)
    bigger.codesize["lazy"].total_sloc = 10_000
    assert _axis(verdict(bigger).mode_axes, "Total SLOC").winners == ("pubsub+direct",)

    before = _axis(verdict(results).mode_axes, "Propagation p50").winners
    assert "streams+outbox" not in before
    faster = results.model_copy(deep=True)
    prop = faster.latency["streams+outbox"].propagation
    assert prop is not None
    prop.p50 = 0.01
    assert _axis(verdict(faster).mode_axes, "Propagation p50").winners == ("streams+outbox",)


def test_consistency_winners_follow_the_figures(results: Results) -> None:
    axis = _axis(verdict(results).variant_axes, "Users never reached")
    assert "lazy" in axis.winners and "pubsub+direct" not in axis.winners
    lossy = results.model_copy(deep=True)
    lazy = next(s for s in lossy.scenarios if s.id == 2).runs["lazy"]
    lazy.consumers["profiles"].missed_ids = lazy.user_ids[:9]
    axis = _axis(verdict(lossy).variant_axes, "Users never reached")
    assert "lazy" not in axis.winners and axis.cells["lazy"].value == 9


def test_winners_are_marked_in_the_html(results: Results, tmp_path: Path) -> None:
    _, html_path = render_results(results, tmp_path, charts=False)
    html = html_path.read_text(encoding="utf-8")
    row = re.search(r"<tr><td>Total SLOC</td>.*?</tr>", html)
    assert row and re.search(r'<td class="win">\d+ ★</td>', row.group(0))


def test_less_code_claim_follows_the_code_a_team_keeps(results: Results) -> None:
    assert _claim(results, "Less code").status in ("supported", "partly")
    same = results.model_copy(deep=True)
    lazy = same.codesize["lazy"].team
    assert lazy is not None
    lazy.tests_sloc = 100_000  # lazy now keeps more than any event mode
    assert _claim(same, "Less code").status == "contradicted"
    radical = results.model_copy(deep=True)
    lazy = radical.codesize["lazy"].team
    assert lazy is not None
    lazy.product_sloc, lazy.tests_sloc, lazy.config_sloc = 10, 10, 0
    assert _claim(radical, "Less code").status == "supported"


def test_fewer_processes_claim_follows_the_processes_used(results: Results) -> None:
    assert _claim(results, "Fewer moving parts").status == "supported"
    heavy = results.model_copy(deep=True)
    heavy.latency["lazy"].valkey_users = ["profiles"]  # a service talked to Valkey in lazy mode
    assert _claim(heavy, "Fewer moving parts").status == "contradicted"
    idle = results.model_copy(deep=True)
    idle.latency["pubsub+direct"].valkey_users = []
    assert _claim(idle, "Fewer moving parts").status == "partly"


def test_jwt_claim_follows_scenarios_7_and_8(results: Results) -> None:
    claim = _claim(results, "The JWT is enough")
    assert claim.status == "contradicted"
    assert any("s7" in e for e in claim.evidence) and any("s8" in e for e in claim.evidence)
    better = results.model_copy(deep=True)
    s8 = next(s for s in better.scenarios if s.id == 8).runs["lazy"]
    s8.consumers["notifications"].welcome_messages = s8.users
    assert _claim(better, "The JWT is enough").status == "partly"
    s7 = next(s for s in better.scenarios if s.id == 7).runs["lazy"]
    for key in [k for k in s7.figures if k.endswith("_refused_after_s")]:
        s7.figures[key] = 0.01
    assert _claim(better, "The JWT is enough").status == "supported"


def test_strings_are_escaped(results: Results, tmp_path: Path) -> None:
    hostile = results.model_copy(deep=True)
    hostile.scenarios[0].runs["lazy"].notes.append("<script>alert(1)</script> | x")
    md_path, html_path = render_results(hostile, tmp_path, charts=False)
    html = html_path.read_text(encoding="utf-8")
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "<script>" not in md_path.read_text(encoding="utf-8")


def test_a_run_without_scenarios_renders(results: Results, tmp_path: Path) -> None:
    bare = results.model_copy(deep=True)
    bare.scenarios = []
    assert _claim(bare, "The JWT is enough").status == "unmeasured"
    md_path, _ = render_results(bare, tmp_path, charts=False)
    assert "No scenario ran." in md_path.read_text(encoding="utf-8")


def test_a_busy_run_is_flagged(results: Results, tmp_path: Path) -> None:
    busy = results.model_copy(deep=True)
    busy.environment |= {"busy": True, "loadavg_before": [9.5, 8, 7], "loadavg_after": [3, 3, 3]}
    md_path, _ = render_results(busy, tmp_path, charts=False)
    assert "Busy machine: 1-minute load average 9.50 before" in md_path.read_text(encoding="utf-8")
    quiet = results.model_copy(deep=True)
    quiet.environment["busy"] = False
    md_path, _ = render_results(quiet, tmp_path, charts=False)
    assert "Busy machine" not in md_path.read_text(encoding="utf-8")


FAILOVER_ROW = {
    "fault": "kill",
    "variant": "pubsub+direct",
    "durability": "none",
    "registered": 8,
    "registrations_failed": 0,
    "propagation_resumed_s": 6.492,
    "consistent_after_last_registration_s": {"profiles": None, "notifications": 0.3},
    "latency_before": {"median_ms": 5917.4, "max_ms": 5934.4},
    "latency_after": {"median_ms": 3216.3, "max_ms": 3506.5},
    "missed": {"profiles": 2, "notifications": 2},
    "duplicates_ignored": {"profiles": 0, "notifications": 0},
    "duplicates": {"profiles": 0, "notifications": 0},
}


def test_replicas_and_failover_sections_appear_when_measured(
    results: Results, tmp_path: Path
) -> None:
    md_path, _ = render_results(results, tmp_path / "without", charts=False)
    plain = md_path.read_text(encoding="utf-8")
    assert "Replicas: consumers and auth processes" not in plain
    assert "Failover on a Valkey Cluster" not in plain
    scaled = results.model_copy(deep=True)
    scaled.replicas = ReplicaResults.model_validate_json(
        (FIXTURE.parent / "replicas.json").read_text(encoding="utf-8")
    )
    scaled.failover = [FAILOVER_ROW]
    md_path, _ = render_results(scaled, tmp_path / "with", charts=False)
    md = md_path.read_text(encoding="utf-8")
    assert "## Replicas: consumers and auth processes" in md
    assert "| pubsub+direct | profiles-2 |" in md  # a row per replica
    assert "every replica receives every event: holds" in md
    assert "each event reaches one replica: holds" in md
    assert "Every user exactly once in every consumer: profiles yes, notifications yes" in md
    assert "## Failover on a Valkey Cluster" in md
    assert "| kill | pubsub+direct | none | 8 | 0 | 4 | 0 | 0 | 6.492 | None |" in md
