"""The benchmark end to end on a reduced size: every section for every mode, and the facts."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.part import choose
from bench.parts.latency.stamps import STAGES, in_order
from bench.reach import reach
from bench.results import Results
from bench.run import DEFAULT_VARIANTS, planned_steps, run_bench, variants_for
from tests.e2e.plans import TINY

pytestmark = pytest.mark.timeout(900)


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> tuple[Results, Path]:
    out = tmp_path_factory.mktemp("bench")
    lines: list[str] = []
    parts = choose(extras=("costs", "capacity"))  # the default plan and the in-process extras
    run_bench(out, quick=True, modes=None, progress=lines.append, plan=TINY, parts=parts)
    assert any("scenario 10" in line for line in lines)  # progress is reported as it goes
    assert len(lines) == planned_steps(TINY, variants_for(None), parts)  # a true total for the ETA
    return Results.model_validate_json((out / "results.json").read_text()), out


def test_every_section_for_every_mode(results: tuple[Results, Path]) -> None:
    res, out = results
    assert (out / "report.md").stat().st_size > 0 and (out / "report.html").stat().st_size > 0
    assert res.complete and res.modes == ["lazy", "pubsub", "streams", "hybrid"]
    for label in DEFAULT_VARIANTS:
        assert res.codesize[label].total_sloc > 0
        lat = res.latency[label]
        for stats in (lat.registration, lat.login, lat.first_call, lat.steady, lat.verify_only):
            assert stats.n > 0 and stats.p50 > 0 and stats.p99 >= stats.p50
        assert (lat.propagation is None) == (label == "lazy")
        users = TINY.latency.registrations
        assert lat.first_call.n == lat.first_call_extra.n == 2 * users  # type: ignore[union-attr]
        assert lat.steady_miss.n == lat.verify_miss.n == users  # type: ignore[union-attr]
        assert lat.matched_hash.requests > 0  # type: ignore[union-attr]
        assert len(lat.round_windows) == TINY.rounds
        assert lat.propagation_timeouts == 0, label
        if label != "lazy":  # every pair known, each with its stage stamps in order
            samples = lat.propagation_samples
            assert samples and len(samples) + lat.propagation_unstamped == 2 * users, label
            assert all(in_order(s) for s in samples), label
            assert [f.stage for f in lat.propagation_stages] == list(STAGES), label
        if label == "lazy":  # Valkey runs for a live switch, but lazy mode never talks to it
            assert lat.valkey_users == [], lat.valkey_users
        else:
            assert {"auth", "profiles", "notifications"} <= set(lat.valkey_users), label
    assert [s.id for s in res.scenarios] == list(range(1, 12))
    for scenario in res.scenarios:
        assert set(DEFAULT_VARIANTS) <= set(scenario.runs), scenario.title
        for run in scenario.runs.values():
            assert set(run.consumers) == {"profiles", "notifications"}
    floors = res.floors
    assert floors is not None
    assert floors.valkey_pubsub.n and floors.jwt_verify.n and floors.bare_fastapi.n
    for transport in ("pubsub", "stream"):  # the same-path floor, measured in every round
        floor = floors.same_path[transport]
        assert floor.samples and floor.timeouts == 0, transport
        assert {s.round for s in floor.samples} == set(range(TINY.rounds))
        assert all(in_order(s) for s in floor.samples), transport
        assert [f.stage for f in floor.stages] == list(STAGES), transport
    assert "Propagation by stage, and the same-path floor" in (out / "report.md").read_text()
    assert res.environment["cpu_count"] and res.environment["settings"]
    env = res.environment
    assert env["effective_settings"]["lab_known_cache_ttl"] > 0
    assert "lab_internal_token" not in env["effective_settings"]
    assert env["loadavg_before"] and env["loadavg_after"] and isinstance(env["seed"], int)
    assert [sorted(order) for order in env["variant_order"]] == [sorted(res.latency)]
    assert {t.mode for t in res.targets} >= set(DEFAULT_VARIANTS)


def test_security_figures(results: tuple[Results, Path]) -> None:
    res, out = results
    sec = res.security
    assert sec is not None
    for stats in (sec.login_unknown, sec.login_wrong_password, sec.login_deactivated):
        assert stats.n == 6 and stats.p50 > 0  # every failed login answered 401, none 429
    assert sec.event_sign.n == sec.event_verify.n == TINY.floor_samples
    assert sec.publish_admin.n == sec.publish_acl_user.n == TINY.floor_samples
    assert "Security: login timing" in (out / "report.md").read_text()


def _runs(res: Results, scenario_id: int) -> dict[str, object]:
    return dict(next(s for s in res.scenarios if s.id == scenario_id).runs)


def test_pubsub_misses_users_registered_while_a_consumer_is_down(
    results: tuple[Results, Path],
) -> None:
    runs = _runs(results[0], 2)
    pubsub = runs["pubsub+direct"].consumers["notifications"]  # type: ignore[attr-defined]
    assert pubsub.missed == runs["pubsub+direct"].users > 0  # type: ignore[attr-defined]
    for label in ("lazy", "streams+outbox", "hybrid+outbox"):
        for outcome in runs[label].consumers.values():  # type: ignore[attr-defined]
            assert outcome.missed == 0, label


def test_outbox_loses_nothing_when_auth_crashes_after_commit(
    results: tuple[Results, Path],
) -> None:
    runs = _runs(results[0], 4)
    for label in ("streams+outbox", "hybrid+outbox", "lazy"):
        run = runs[label]
        assert run.users > 0  # type: ignore[attr-defined]
        for outcome in run.consumers.values():  # type: ignore[attr-defined]
            assert outcome.missed == 0, label
    for label in ("streams+direct", "pubsub+direct"):
        for outcome in runs[label].consumers.values():  # type: ignore[attr-defined]
            assert outcome.missed > 0, label  # direct publishing loses the event by design


def test_every_user_is_counted_once_and_promises_hold_after_a_kill(
    results: tuple[Results, Path],
) -> None:
    for scenario in results[0].scenarios:
        for label, run in scenario.runs.items():
            r = reach(run)
            assert r.by_event + r.rescued + r.never == run.users == len(run.user_ids), label
            assert r.never >= max((c.missed for c in run.consumers.values()), default=0)
    for label in ("lazy", "streams+outbox", "hybrid+outbox"):
        for sid in (3, 10):  # Valkey stopped, then Valkey killed with SIGKILL
            assert reach(_runs(results[0], sid)[label]).never == 0, (sid, label)  # type: ignore[arg-type]
    for label in ("pubsub+direct", "streams+outbox"):
        for outcome in _runs(results[0], 3)[label].consumers.values():  # type: ignore[attr-defined]
            assert not outcome.lazy_ids, label  # only lazy and hybrid provision at a call


def test_concurrent_first_calls_provision_exactly_once(results: tuple[Results, Path]) -> None:
    for label, run in _runs(results[0], 6).items():
        for service, outcome in run.consumers.items():  # type: ignore[attr-defined]
            assert outcome.welcome_messages == 1, (label, service)
            assert outcome.duplicates == 0, (label, service)
        figures = run.figures  # type: ignore[attr-defined]
        assert figures["profiles_first_call_true"] <= 1
        assert figures["notifications_first_call_true"] <= 1


def test_lazy_sends_no_welcome_to_users_who_never_call(results: tuple[Results, Path]) -> None:
    runs = _runs(results[0], 8)
    assert runs["lazy"].consumers["notifications"].welcome_messages == 0  # type: ignore[attr-defined]
    for label in ("pubsub+direct", "streams+outbox", "hybrid+outbox"):
        run = runs[label]
        assert run.consumers["notifications"].welcome_messages == run.users  # type: ignore[attr-defined]


def test_a_changed_plan_reaches_event_consumers_and_lazy_needs_a_new_login(
    results: tuple[Results, Path],
) -> None:
    res, out = results
    runs = _runs(res, 11)
    lazy = runs["lazy"].figures  # type: ignore[attr-defined]
    assert lazy["plans_changed"] == TINY.scenario.users
    assert lazy["still_stale_after_window"] == 2 * TINY.scenario.users  # old tokens never learn
    assert lazy["stale_calls"] > 0
    assert lazy["ended_by_new_login"] == f"{2 * TINY.scenario.users}/{2 * TINY.scenario.users}"
    for label in ("streams+outbox", "hybrid+outbox"):
        figures = runs[label].figures  # type: ignore[attr-defined]
        assert figures["still_stale_after_window"] == 0, label
        assert figures["new_value_max_s"] is not None
    costs = res.token_costs
    assert costs is not None and costs.gateway_plain and costs.gateway_sealed
    assert costs.gateway_plain.n == costs.gateway_sealed.n > 0
    sizes = [p.token_bytes for p in costs.points]
    assert sizes == sorted(sizes) and sizes[0] < sizes[-1]
    assert all(p.sealed_bytes > p.token_bytes for p in costs.points)
    report = (out / "report.md").read_text()
    assert "Tokens: packing attributes and encrypting" in report and "holds for" in report


def test_scale_figures(results: tuple[Results, Path]) -> None:
    res, out = results
    caught = res.catchup
    assert caught is not None and caught.events == TINY.catchup.events
    assert caught.known_users == caught.records == caught.events
    assert caught.pending_after == 0 and caught.dead_lettered == 0
    assert caught.events_per_s > 0 and caught.floor_events_per_s > 0 and len(caught.floors) == 2
    assert all(f["verify_s"] > 0 for f in caught.floors)  # the verified floor verified
    assert 0 < caught.verified_floor_events_per_s < caught.floor_events_per_s
    assert caught.batch_ms.n >= caught.events // caught.batch
    mem = res.memory
    assert mem is not None and (mem.users, mem.http_users) == TINY.memory_users
    assert mem.in_process.points[-1][0] == mem.users and mem.in_process.known_users == mem.users
    assert mem.http.points[-1][0] == mem.http_users and mem.http.known_users == mem.http_users
    assert set(mem.in_process.per_user) == {"cached", "seen", "blocked", "tokens"}
    assert "At scale: catch-up and memory" in (out / "report.md").read_text()
