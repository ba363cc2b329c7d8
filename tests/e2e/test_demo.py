"""`cli.py demo` end to end without a terminal: the diagram and the acts in every mode."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest

from lab.processes import ROOT, Stack

pytestmark = pytest.mark.slow


def cli(stack: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "cli.py", *args],
        cwd=ROOT,
        env={**os.environ, **stack.env, "COLUMNS": "160"},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def saw(act: dict[str, Any], service: str) -> tuple[int, str | None]:
    answer = act["user_saw"][service]
    return answer["status"], answer.get("error") or answer.get("discovered_by")


def test_demo_json_runs_every_mode_and_shows_each_act(lazy_stack: Stack) -> None:
    done = cli(lazy_stack, "demo", "--json", "--pause")  # --pause without a terminal: no waiting
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout)
    assert report["modes"] == ["lazy", "pubsub", "streams", "hybrid"]
    assert [row["mode"] for row in report["comparison"]] == report["modes"]
    acts = {(a["mode"], a["act"].split()[1]): a for a in report["acts"]}
    assert len(acts) == 12 and all(a["outcome"] and a["steps"] for a in acts.values())

    lazy = report["stories"][0]
    arrows = [s["what"] for s in lazy["steps"]]
    assert "POST /auth/login" in arrows and "localStorage.setItem(token)" in arrows
    assert any("matches a JWKS key" in s["what"] for s in lazy["steps"])
    assert any(s["arrow"] == "auth → DB" and s["ms"] is not None for s in lazy["steps"])
    assert all(c["status"] == 200 and c["first_call"] for c in lazy["calls"].values())
    assert {c["discovered_by"] for c in lazy["calls"].values()} == {"lazy"}

    # a consumer down during registration ("consumer" is the act's second word)
    assert saw(acts["lazy", "consumer"], "notifications") == (200, "lazy")
    assert saw(acts["pubsub", "consumer"], "profiles") == (200, "event")
    assert saw(acts["pubsub", "consumer"], "notifications") == (403, "unknown_user")
    assert acts["pubsub", "consumer"]["knows"]["notifications"] is None  # lost, by design
    assert saw(acts["streams", "consumer"], "notifications") == (200, "event")  # caught up
    assert saw(acts["hybrid", "consumer"], "notifications") == (200, "event")

    # Valkey restarts while a user registers ("Valkey" is the act's first word: key "restarts")
    assert saw(acts["lazy", "restarts"], "profiles") == (200, "lazy")
    assert saw(acts["pubsub", "restarts"], "profiles") == (403, "unknown_user")  # direct: lost
    assert saw(acts["streams", "restarts"], "profiles") == (403, "unknown_user")  # direct: lost
    assert all(  # hybrid: the outbox publishes once Valkey is back; lazy covers any gap
        saw(acts["hybrid", "restarts"], s)[0] == 200 for s in ("profiles", "notifications")
    )

    # a user deactivated while holding a valid token
    assert saw(acts["lazy", "user"], "profiles") == (200, "lazy")  # lazy never hears of it
    for mode in ("pubsub", "streams", "hybrid"):
        assert saw(acts[mode, "user"], "profiles") == (403, "user_deactivated"), mode
        assert acts[mode, "user"]["knows"]["profiles"]["active"] is False


def test_demo_one_mode_prints_the_diagram_and_the_table(lazy_stack: Stack) -> None:
    done = cli(lazy_stack, "demo", "--mode", "lazy")
    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout
    assert "User → gateway → auth: POST /auth/login" in out
    assert "first sight of user_id" in out
    assert "The same story in every mode" in out and "lazy (none)" in out  # lazy publishes nothing
    assert "pubsub" not in out.split("The same story in every mode")[1]
