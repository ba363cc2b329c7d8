"""The JSON line log: rotation at the cap, and its lines rendered for reading."""

from __future__ import annotations

import json
from pathlib import Path

from common.logs import LineLog
from lab.logview import render


def test_without_backups_the_log_starts_again_at_the_cap(tmp_path: Path) -> None:
    log = LineLog(tmp_path / "p.jsonl", max_bytes=1000, backups=0)
    for k in range(40):
        log.write(json.dumps({"k": k, "pad": "x" * 40}))
    assert not (tmp_path / "p.jsonl.1").exists()
    assert (tmp_path / "p.jsonl").stat().st_size < 1000
    last = (tmp_path / "p.jsonl").read_text().splitlines()[-1]
    assert json.loads(last)["k"] == 39


def test_a_reopened_log_counts_what_it_holds(tmp_path: Path) -> None:
    LineLog(tmp_path / "p.jsonl", 1000, 1).write("x" * 900)
    LineLog(tmp_path / "p.jsonl", 1000, 1).write("y" * 200)
    assert (tmp_path / "p.jsonl.1").exists() and (tmp_path / "p.jsonl").stat().st_size == 0


def test_lines_render_in_columns_and_other_lines_pass_unchanged() -> None:
    access = {
        "ts": 0.25,
        "kind": "access",
        "process": "auth",
        "request_id": "abc",
        "method": "POST",
        "path": "/login",
        "status": 200,
        "ms": 3.5,
    }
    assert render(json.dumps(access)).endswith(" auth abc POST /login 200 3.5ms")
    app = {"ts": 0, "kind": "app", "process": "auth", "level": "warning", "logger": "x"}
    assert " auth - WARNING x: " in render(json.dumps(app | {"message": "m", "exc": "Tb"}))
    for other in ("==> auth.log <==", "plain text", "[1, 2]", '{"no": "kind"}'):
        assert render(other) == other
