"""The docs build as `make test` runs it: --strict really fails on a broken link."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _docs_build_argv() -> list[str]:
    """The Makefile's docs build, as `python -m mkdocs` of this interpreter."""
    recipe = (ROOT / "Makefile").read_text().split("\ndocs:", 1)[1].splitlines()[1]
    words = recipe.split()
    return [sys.executable, "-m", "mkdocs", *words[words.index("build") :]]


def test_a_broken_link_fails_the_docs_build(tmp_path: Path) -> None:
    site = tmp_path / "project"
    for name in ("mkdocs.yml", "docs_hooks.py", "README.md", "SECURITY.md", "asyncapi.yaml"):
        site.mkdir(exist_ok=True)
        shutil.copy(ROOT / name, site / name)
    shutil.copytree(ROOT / "docs", site / "docs")
    argv = _docs_build_argv()
    assert "--strict" in argv
    env = os.environ | {"NO_MKDOCS_2_WARNING": "1"}
    good = subprocess.run(argv, cwd=site, capture_output=True, text=True, timeout=120, env=env)
    assert good.returncode == 0, good.stderr
    with (site / "docs" / "modes.md").open("a") as page:
        page.write("\n[a page that does not exist](no-such-page.md)\n")
    bad = subprocess.run(argv, cwd=site, capture_output=True, text=True, timeout=120, env=env)
    assert bad.returncode != 0 and "no-such-page.md" in bad.stderr
