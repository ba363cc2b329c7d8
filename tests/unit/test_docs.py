"""The way in: a short README with the quickstart, and docs whose generated parts stay generated."""

from __future__ import annotations

import re
from pathlib import Path

import typer
import yaml

from bench.figures import page
from cli import app
from docs_hooks import MARKER, command_paths, reference

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")
STORED_RUN = ROOT / "docs" / "run"  # a run committed for the figures page, if one is


class _Config(yaml.SafeLoader):
    """mkdocs.yml as data: its python tags (a fence's formatter) read as nothing."""


_Config.add_multi_constructor("tag:yaml.org,2002:python/", lambda *_: None)


def test_the_readme_is_short_and_shows_the_sequence_diagram() -> None:
    assert len(README.splitlines()) <= 150
    assert "```mermaid\nsequenceDiagram" in README
    assert '--8<-- "README.md:diagram"' in (ROOT / "docs" / "index.md").read_text()


def test_every_command_the_readme_names_exists() -> None:
    names = set(re.findall(r"(?:bin/|`)discovery-lab ([a-z][a-z-]+)", README))
    assert {"up", "demo", "down", "compose-secrets"} <= names
    paths = command_paths(typer.main.get_command(app))
    assert names <= {path[0] for path in paths if path}, names


def test_the_quickstart_goes_install_up_dashboard_demo_down() -> None:
    steps = ["pip install", "discovery-lab up", "http://127.0.0.1:8080/", "discovery-lab demo"]
    steps.append("discovery-lab down")
    where = [README.index(step) for step in steps]
    assert where == sorted(where), dict(zip(steps, where, strict=True))


def test_ci_runs_the_readmes_test_command() -> None:
    assert "make test" in README
    ci = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"^make test$", ci, flags=re.MULTILINE)
    assert re.search(r"^test: lint$", (ROOT / "Makefile").read_text(), flags=re.MULTILINE)
    assert "mkdocs build --strict" in (ROOT / "Makefile").read_text()


def test_every_relative_link_of_the_readme_exists() -> None:
    links = [link for link in LINK.findall(README) if "://" not in link]
    assert links
    for link in links:
        assert (ROOT / link).exists(), link


def test_every_page_is_in_the_nav_and_every_nav_entry_is_a_page() -> None:
    config = yaml.load((ROOT / "mkdocs.yml").read_text(), Loader=_Config)  # noqa: S506
    nav = {page for entry in config["nav"] for page in entry.values()}
    pages = {p.name for p in (ROOT / "docs").glob("*.md")}
    assert nav == pages
    assert config["theme"]["name"] == "material"


def test_security_is_included_not_copied() -> None:
    text = (ROOT / "docs" / "security.md").read_text()
    assert '--8<-- "SECURITY.md"' in text
    assert len(text.splitlines()) < 5


def test_the_cli_reference_covers_every_command() -> None:
    assert MARKER in (ROOT / "docs" / "cli.md").read_text()
    paths = command_paths(typer.main.get_command(app))
    assert ("keys", "rotate") in paths and ("up",) in paths and ("docs-figures",) in paths
    text = reference(app)
    for path in paths:
        assert f"## `{' '.join(('discovery-lab', *path))}`" in text
    assert "Start valkey, auth, the consumers and the gateway" in text  # up's own docstring


def test_the_figures_page_is_what_the_command_writes(tmp_path: Path) -> None:
    stored = STORED_RUN if (STORED_RUN / "results.json").exists() else None
    expected = page(stored, tmp_path / "figures")
    assert (ROOT / "docs" / "figures.md").read_text() == expected
