"""The installed command: its entry point, what it needs, and where it writes."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import entry_points, requires, version
from pathlib import Path

import pytest

from bench.run import default_out_dir

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_pip_install_gives_a_working_discovery_lab_command(tmp_path: Path) -> None:
    (script,) = entry_points(group="console_scripts", name="discovery-lab")
    assert script.value == "cli:main"
    command = Path(sys.executable).with_name("discovery-lab")  # written by pip install
    assert command.exists(), f"no {command}: install the package (make .venv/.installed)"
    done = subprocess.run(
        [str(command), "--version"], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"discovery-lab {version('discovery-lab')}"


def test_python_cli_py_keeps_working_from_a_checkout() -> None:
    done = subprocess.run(
        [sys.executable, "cli.py", "--help"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "Usage: discovery-lab" in done.stdout


def test_matplotlib_is_only_in_the_bench_extra() -> None:
    needs = [r for r in requires("discovery-lab") or [] if r.startswith("matplotlib")]
    assert needs and all('extra == "bench"' in r for r in needs), needs


def test_services_and_the_cli_run_without_matplotlib() -> None:
    probe = (
        "import sys; sys.modules['matplotlib'] = None\n"  # any import of it now fails
        "import auth.app, consumers.app, gateway.app, cli, bench.part\n"
        "try:\n"
        "    bench.part.require_report_deps()\n"
        "except ValueError as exc:\n"
        "    print(exc)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "pip install 'discovery-lab[bench]'" in done.stdout


def test_reports_go_under_the_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert default_out_dir().parent == tmp_path / "reports"
