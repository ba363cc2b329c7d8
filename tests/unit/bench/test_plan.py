"""The plan of a run: the default parts, the opt-in extras, the steps announced, and the schema
version a report reads."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

import cli
from bench.catalog import PARTS
from bench.document import render_results
from bench.part import ALL_PARTS, DEFAULT_PARTS, EXTRAS, choose
from bench.results import SCHEMA_VERSION, Results
from bench.run import needs_stack, planned_steps, render_reports, variants_for
from tests.e2e.plans import TINY

FIXTURE = Path(__file__).parent / "fixtures" / "results.json"
runner = CliRunner()


def test_the_default_plan_and_the_extras() -> None:
    assert choose() == {"codesize", "latency", "scenarios", "tokens"} == set(DEFAULT_PARTS)
    assert choose(extras=["reliability", "scale"]) == {*DEFAULT_PARTS, "reliability", "scale"}
    assert choose(["tokens", "tokens"]) == {"tokens"}
    assert choose(["capacity"]) == {"capacity"}  # an extra can be named as the only part
    assert set(ALL_PARTS) == {*DEFAULT_PARTS, "capacity", "reliability", "scale", "costs"}


@pytest.mark.parametrize(
    ("parts", "extras", "message"),
    [
        (["latency", "sizes"], [], "unknown part sizes (choose from " + ", ".join(ALL_PARTS)),
        ([], ["latency"], "unknown extra latency (choose from " + ", ".join(EXTRAS)),
    ],
)
def test_an_unknown_name_lists_the_valid_ones(
    parts: list[str], extras: list[str], message: str
) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        choose(parts, extras)


def test_the_cli_refuses_an_unknown_part_in_one_line() -> None:
    for args in (["--part", "sizes"], ["--with", "latency"]):
        result = runner.invoke(cli.app, ["bench", *args], prog_name=cli.PROG)
        assert result.exit_code == 1, args
        assert "choose from" in result.stderr and len(result.stderr.strip().splitlines()) <= 2


def test_the_steps_announced_follow_the_parts() -> None:
    variants = variants_for(None)
    assert planned_steps(TINY, variants, {"codesize"}) == 2  # and writing results.json
    assert not needs_stack({"codesize", "capacity"}) and needs_stack({"tokens"})
    assert planned_steps(TINY, variants, {"tokens"}) == 1 + 2 + 2  # stack up and down
    default = planned_steps(TINY, variants, choose())
    assert planned_steps(TINY, variants, choose(extras=["capacity"])) == default + 2
    assert planned_steps(TINY, variants, choose(extras=["costs"])) == default + 1


def test_a_report_of_one_part_leaves_out_the_others(tmp_path: Path) -> None:
    raw = json.loads(FIXTURE.read_text())
    for key in ("codesize", "floors", "latency", "targets"):
        raw.pop(key)
    results = Results.model_validate(raw)
    md_path, _ = render_results(results, tmp_path, charts=False)
    text = md_path.read_text()
    assert "2. Latency and throughput" not in text and "Which mode when" in text


def test_report_names_both_versions_of_an_older_results_json(tmp_path: Path) -> None:
    raw = json.loads(FIXTURE.read_text())
    raw["schema_version"] = SCHEMA_VERSION - 1
    (tmp_path / "results.json").write_text(json.dumps(raw))
    with pytest.raises(
        ValueError, match=f"schema version {SCHEMA_VERSION - 1}; .* {SCHEMA_VERSION}"
    ):
        render_reports(tmp_path)
    result = runner.invoke(cli.app, ["report", str(tmp_path)], prog_name=cli.PROG)
    assert result.exit_code == 1 and f"version {SCHEMA_VERSION - 1}" in result.stderr
    shutil.copy(FIXTURE, tmp_path / "results.json")
    md_path, html_path = render_reports(tmp_path)
    assert md_path.exists() and html_path.exists()


def test_every_part_has_a_folder_a_line_and_fields_of_its_own() -> None:
    assert sorted(p.name for p in PARTS) == sorted(ALL_PARTS)
    fields = [f for p in PARTS for f in p.fields]
    assert len(fields) == len(set(fields)) and set(fields) <= set(Results.model_fields)
    empty = Results(
        generated_at="", quick=True, duration_s=0, environment={}, modes=[], variants={}
    )
    assert all(
        p.section(empty.model_copy(update={"parts": ["tokens"]}), False) == [] for p in PARTS
    )
