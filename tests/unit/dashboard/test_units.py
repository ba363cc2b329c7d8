"""The dashboard's pure parts: grid paging over many users, and reading a finished report."""

from __future__ import annotations

from pathlib import Path

from dashboard.report import summary
from dashboard.snapshot import counters, grid


def known(n: int, lazy_every: int = 3) -> list[dict[str, object]]:
    return [
        {
            "user_id": uid,
            "discovered_by": "lazy" if uid % lazy_every == 0 else "event",
            "known_since": "2026-01-01T00:00:00+00:00",
            "active": uid != 7,
        }
        for uid in range(1, n + 1)
    ]


def test_a_thousand_users_come_one_page_at_a_time_with_a_summary() -> None:
    view = grid({"profiles": known(1000), "notifications": known(990)}, {5: "alice"}, 3, 50)
    assert view["total"] == 1000 and view["pages"] == 20 and len(view["rows"]) == 50
    assert [r["user_id"] for r in view["rows"]][:2] == [850, 849]  # newest first
    assert view["summary"]["profiles"] == {"known": 1000, "event": 667, "lazy": 333, "inactive": 1}
    last = grid({"profiles": known(1000), "notifications": known(990)}, {}, 99, 50)
    assert last["page"] == 19 and last["rows"][-1]["user_id"] == 1
    first = grid({"profiles": known(1000), "notifications": known(990)}, {}, 0, 50)
    row = next(r for r in first["rows"] if r["user_id"] == 995)
    assert "notifications" not in row["cells"] and row["cells"]["profiles"]["by"] == "event"


def test_an_unreachable_service_is_named_and_users_it_knows_not_are_empty() -> None:
    view = grid({"profiles": known(2)}, {3: "bob"}, 0, 50)
    assert view["unreachable"] == ["notifications"]
    assert view["rows"][0] == {"user_id": 3, "username": "bob", "cells": {}}


def test_counters_sum_the_replicas_and_take_auth_figures_from_auth() -> None:
    c = counters(
        {
            "auth": {"events_published": 9, "events_lost": 1, "outbox_pending": 2},
            "profiles": {"events_received": 4, "stream_lag": 3, "dead_lettered": 1},
            "profiles-2": {"events_received": 4, "stream_lag": 5, "unknown_user_refusals": 2},
        }
    )
    assert c["events_received"] == 8 and c["stream_lag"] == 5 and c["dead_letters"] == 1
    assert c["events_lost"] == 1 and c["unknown_user_refusals"] == 2


def test_counters_sum_what_each_auth_process_published() -> None:
    c = counters(
        {
            "auth": {"events_published": 9, "events_lost": 1, "outbox_pending": 2},
            "auth-2": {"events_published": 5, "events_lost": 0, "outbox_pending": 2},
            "profiles": {"events_received": 14},
        }
    )
    assert (c["events_published"], c["events_lost"], c["outbox_pending"]) == (14, 1, 2)
    assert c["events_received"] == 14  # auth-2 is no consumer


def test_report_summary_reads_the_verdict_and_charts_but_no_scripts(tmp_path: Path) -> None:
    assert summary(tmp_path)["exists"] is False
    png = "data:image/png;base64,iVBORw0KGgo="
    (tmp_path / "report.html").write_text(
        '<h1>r</h1><section id="verdict"><p>lazy wins</p><script>alert(1)</script></section>'
        f'<img alt="c" src="{png}">'
    )
    found = summary(tmp_path)
    assert found["exists"] and "lazy wins" in found["verdict_html"]
    assert "<script" not in found["verdict_html"] and found["charts"] == [png]
