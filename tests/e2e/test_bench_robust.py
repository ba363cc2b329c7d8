"""A benchmark run that fails or is stopped keeps what it measured and leaves nothing running."""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from bench.run import run_bench
from lab.processes import StackError
from tests.e2e.plans import TINY

ROOT = Path(__file__).resolve().parents[2]


def processes_of(state: Path) -> list[psutil.Process]:
    """Processes still running whose command line or environment names the state dir."""
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        try:
            if str(state) in " ".join(proc.info["cmdline"] or []) or (
                proc.environ().get("LAB_STATE_DIR") == str(state)
            ):
                found.append(proc)
        except psutil.Error:
            continue
    return found


def test_a_failed_start_up_leaves_nothing_running_and_keeps_what_was_measured(
    tmp_path: Path,
) -> None:
    lines: list[str] = []
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        taken = str(holder.getsockname()[1])
        with pytest.raises(StackError, match=f"port {taken} for gateway is taken"):
            run_bench(
                tmp_path / "out",
                quick=True,
                modes=["lazy"],
                progress=lines.append,
                plan=TINY,
                keep_state=True,
                stack_env={"LAB_GATEWAY_PORT": taken},
            )
    kept = next(line for line in lines if "state dir is kept" in line)
    state = Path(kept.rsplit(": ", 1)[1])
    try:
        assert (state / "logs" / "auth.log").exists()  # auth started before the gateway failed
        assert processes_of(state) == []
        assert list((state / "run").glob("*.pid")) == []
    finally:
        shutil.rmtree(state.parent, ignore_errors=True)  # kept for these checks only
    partial = json.loads((tmp_path / "out" / "results.json").read_text())
    assert partial["complete"] is False
    assert partial["codesize"]["lazy"]["total_sloc"] > 0 and partial["floors"]["jwt_verify"]["n"]


@pytest.mark.timeout(300)
@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_a_stopped_run_stops_the_stack_and_keeps_partial_results(
    tmp_path: Path, stop: signal.Signals
) -> None:
    out = tmp_path / "out"
    command = [sys.executable, "cli.py", "bench", "--quick", "--modes", "lazy", "--out", str(out)]
    # A shell without job control starts background jobs with SIGINT ignored, and the child
    # would inherit that; Ctrl-C reaches a foreground run, so the run gets the default back.
    proc = subprocess.Popen(
        command,
        cwd=ROOT,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # noqa: PLW1509 - only a signal reset before exec
    )
    assert proc.stderr is not None
    lines = []
    state = None
    for line in proc.stderr:  # a deadline comes from the test timeout
        lines.append(line)
        if "starting the stack (state in " in line:
            state = Path(line.split("state in ", 1)[1].rstrip(")\n"))
        if "floors: Valkey" in line:  # the stack is up and being measured
            break
    assert state is not None, "".join(lines)
    proc.send_signal(stop)
    rest = proc.communicate(timeout=120)[1]
    assert proc.returncode == 128 + stop, "".join(lines) + rest
    assert "state dir is removed" in rest and "interrupted" in rest
    assert not state.exists()
    deadline = time.monotonic() + 10
    while processes_of(state) and time.monotonic() < deadline:  # a killed process may linger
        time.sleep(0.1)
    assert processes_of(state) == []
    partial = json.loads((out / "results.json").read_text())
    assert partial["complete"] is False and partial["codesize"]["lazy"]["total_sloc"] > 0
