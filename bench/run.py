"""Run the whole benchmark on a real stack and write results.json and the reports."""

from __future__ import annotations

import asyncio
import functools
import json
import secrets
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Callable, Collection, Coroutine, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from pydantic_core import to_jsonable_python

from bench.document import render
from bench.environment import busy, describe, effective_settings, loadavg
from bench.harness import Harness, make_stack
from bench.part import DEFAULT_PARTS, choose, require_report_deps
from bench.parts.capacity import catchup, memory
from bench.parts.codesize.measure import measure_variant
from bench.parts.costs.measure import measure as measure_security
from bench.parts.latency import floors as fl
from bench.parts.latency.measure import Sizes, measure_all
from bench.parts.latency.targets import check
from bench.parts.reliability.soak import SoakPlan, run_soak
from bench.parts.scale import failover
from bench.parts.scale import replicas as bench_replicas
from bench.parts.scale.replicas import ReplicaPlan
from bench.parts.scenarios.base import Size
from bench.parts.scenarios.catalog import SCENARIOS
from bench.parts.tokens import measure as tokencost
from bench.results import (
    SCHEMA_VERSION,
    CodeSize,
    Floors,
    ModeLatency,
    PathFloor,
    ReliabilityRun,
    Results,
    Scenario,
    Security,
    Stats,
    Throughput,
)
from bench.variants import Variant
from common.settings import Mode, Settings
from lab.processes import Stack

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_VARIANTS = ("lazy", "pubsub+direct", "streams+outbox", "hybrid+outbox")
# Measured for latency only, beside streams+outbox, so the outbox's own cost is a figure too.
LATENCY_EXTRA = ("streams+direct",)
Progress = Callable[[str], None]
T = TypeVar("T")
P = ParamSpec("P")
R = TypeVar("R")


@dataclass(frozen=True)
class Plan:
    """How big a run is."""

    quick: bool
    rounds: int
    latency: Sizes
    scenario: Size
    floor_samples: int
    catchup: catchup.Plan
    memory_users: tuple[int, int]  # (in process, over HTTP)
    seed: int = field(default_factory=lambda: secrets.randbelow(2**31))  # orders the variants

    @classmethod
    def make(cls, quick: bool) -> Plan:
        if quick:
            return cls(
                True,
                2,
                Sizes(registrations=6, steady_calls=200, throughput_s=0.4, hash_s=1.0),
                Size(users=5, settle_s=1.2, quick=True),
                floor_samples=200,
                catchup=catchup.Plan.make(quick=True),
                memory_users=memory.sizes(quick=True),
            )
        return cls(
            False,
            5,
            # 20 a round: at least 100 registrations behind every registration figure
            Sizes(registrations=20, steady_calls=1500, throughput_s=3.0, hash_s=5.0),
            Size(users=24, settle_s=5.0, quick=False),
            floor_samples=1000,
            catchup=catchup.Plan.make(quick=False),
            memory_users=memory.sizes(quick=False),
        )


def variants_for(modes: list[str] | None) -> list[Variant]:
    """The default variant of each requested mode (pubsub direct, streams and hybrid outbox)."""
    chosen = [Variant.parse(v) for v in DEFAULT_VARIANTS]
    if not modes:
        return chosen
    wanted = {m.strip() for m in modes if m.strip()}
    unknown = wanted - {v.mode.value for v in chosen}
    if unknown:
        raise ValueError(f"unknown mode(s): {', '.join(sorted(unknown))}")
    return [v for v in chosen if v.mode.value in wanted]


def latency_variants(variants: list[Variant]) -> list[Variant]:
    """The variants whose latency is measured: the chosen ones and the extras of their modes."""
    modes = {v.mode for v in variants}
    extra = [Variant.parse(label) for label in LATENCY_EXTRA]
    return [*variants, *(v for v in extra if v.mode in modes)]


def needs_stack(parts: Collection[str]) -> bool:
    """True if a part of the run measures on the lab's own running stack."""
    return any(p in parts for p in ("latency", "scenarios", "tokens", "costs", "reliability"))


def planned_steps(
    plan: Plan, variants: list[Variant], parts: Collection[str] = DEFAULT_PARTS
) -> int:
    """How many progress lines a run announces, for a progress bar and its ETA."""
    chosen = latency_variants(variants)
    steps = 1  # results.json
    if "codesize" in parts:
        steps += 1
    if "latency" in parts:  # local floors, Valkey floors, then each round
        floor = any(v.mode is not Mode.LAZY for v in chosen)  # the same-path floor, each round
        steps += 2 + plan.rounds * (1 + floor + len(chosen))
    if "tokens" in parts:  # in process, then through the gateway
        steps += 2
    if "costs" in parts:
        steps += 1
    if "scenarios" in parts:
        steps += sum(len(spec.variants(variants)) for spec in SCENARIOS)
    if "reliability" in parts:
        steps += len(chosen)
    if needs_stack(parts):  # starting and stopping it
        steps += 2
    if "scale" in parts:
        steps += ReplicaPlan.make(plan.quick).steps + 1
    if "capacity" in parts:  # catch-up, memory
        steps += 2
    return steps


def default_out_dir() -> Path:
    """<timestamp>/ in the reports dir (LAB_REPORTS_DIR, by default reports/ in the current one)."""
    return Settings().reports_dir / datetime.now(UTC).astimezone().strftime("%Y%m%d-%H%M%S")


def link_latest(out_dir: Path) -> None:
    """Point latest in the reports dir at out_dir when out_dir lives there."""
    reports = Settings().reports_dir
    if out_dir.resolve().parent != reports:
        return
    latest = reports / "latest"
    if latest.is_symlink() or latest.exists():
        latest.unlink()
    latest.symlink_to(out_dir.name)


@dataclass
class Recorder:
    """results.json, rewritten as each part is measured, so an interrupted run keeps it all."""

    path: Path
    sections: dict[str, Any] = field(default_factory=dict)

    def put(self, **sections: Any) -> None:
        """Record measured sections; the file says `"complete": false` until finish()."""
        self.sections.update(to_jsonable_python(sections))
        partial = {"schema_version": SCHEMA_VERSION, "complete": False, **self.sections}
        self._write(json.dumps(partial, indent=1))

    def finish(self, results: Results) -> None:
        self._write(results.model_dump_json(indent=1))

    def _write(self, text: str) -> None:
        partial = self.path.with_suffix(".json.partial")
        partial.write_text(text)
        partial.replace(self.path)  # a reader never sees half a file


@dataclass
class OnStack:
    """What the run measures on the running stack; None or empty for a part not in the plan."""

    floors: dict[str, Stats] = field(default_factory=dict)
    latency: dict[str, ModeLatency] = field(default_factory=dict)
    hash_throughput: Throughput | None = None
    security: Security | None = None
    scenarios: list[Scenario] = field(default_factory=list)
    variant_order: list[list[str]] = field(default_factory=list)  # round by round
    gateway_tokens: tuple[Stats, Stats] | None = None  # steady calls, plain then encrypted
    path_floors: dict[str, PathFloor] = field(default_factory=dict)  # by transport


def _run_async(main: Coroutine[Any, Any, T]) -> T:
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)


def _local_floors(plan: Plan, progress: Progress) -> dict[str, Stats]:
    progress("floors: JWT verify, SQLite insert, argon2id, bare FastAPI")
    n = plan.floor_samples
    return {
        "jwt_verify": fl.stats(fl.jwt_verify(n * 2)),
        "db_insert": fl.stats(fl.db_insert(n)),
        "argon2_hash": fl.stats(fl.argon2_hashes(4 if plan.quick else 12)),
        "bare_fastapi": fl.stats(_run_async(fl.bare_fastapi(n * 2))),
    }


async def _scenarios(
    h: Harness,
    plan: Plan,
    variants: list[Variant],
    record: Recorder,
    settings_used: dict[str, str],
    progress: Progress,
) -> list[Scenario]:
    stack = h.stack
    scenarios: list[Scenario] = []
    for spec in SCENARIOS:
        scenario = Scenario(id=spec.id, title=spec.title, question=spec.question, runs={})
        scenarios.append(scenario)
        auth_env = getattr(spec, "auth_env", None)
        saved = {}
        if auth_env:
            saved = {k: stack.env.get(k, "") for k in auth_env(plan.scenario)}
            await h.restart_auth(**auth_env(plan.scenario))
            settings_used.update(
                {f"scenario{spec.id}:{k}": v for k, v in auth_env(plan.scenario).items()}
            )
        try:
            for variant in spec.variants(variants):
                progress(f"scenario {spec.id} ({spec.title}): {variant.label}")
                scenario.runs[variant.label] = await spec.run(h, variant, plan.scenario)
                record.put(scenarios=scenarios)
        finally:
            if auth_env:
                await h.restart_auth(**saved)
    return scenarios


async def _on_stack(
    stack: Stack,
    plan: Plan,
    variants: list[Variant],
    parts: Collection[str],
    record: Recorder,
    settings_used: dict[str, str],
    progress: Progress,
) -> OnStack:
    h = Harness(stack)
    done = OnStack()
    try:
        if "latency" in parts:
            url = stack.settings.effective_valkey_url
            progress("floors: Valkey PUBLISH→receive and XADD→XREADGROUP")
            done.floors = {
                "valkey_pubsub": fl.stats(await fl.valkey_pubsub(url, plan.floor_samples)),
                "valkey_stream": fl.stats(await fl.valkey_stream(url, plan.floor_samples)),
            }
            record.put(floors=record.sections["floors"] | to_jsonable_python(done.floors))
            measured = await measure_all(
                h, latency_variants(variants), plan.latency, plan.rounds, progress, plan.seed
            )
            record.put(latency=measured.latency, same_path_floors=measured.path_floors)
            done.latency, done.hash_throughput = measured.latency, measured.hashing
            done.variant_order, done.path_floors = measured.order, measured.path_floors
        if "costs" in parts:
            progress("security: login timing by kind of failure, event signing, ACL publish")
            done.security = await measure_security(
                h, logins=6 if plan.quick else 30, events=plan.floor_samples
            )
            record.put(security=done.security)
        if "scenarios" in parts:
            done.scenarios = await _scenarios(h, plan, variants, record, settings_used, progress)
        if "tokens" in parts:
            progress("tokens: steady calls through the gateway, plain and encrypted")
            done.gateway_tokens = await tokencost.gateway_steady(h, plan.latency.steady_calls)
        return done
    finally:
        await h.close()


class Stopped(KeyboardInterrupt):
    """The run was stopped by SIGTERM or SIGHUP (`kill`, a CI timeout, a closed terminal)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _raise_stopped(signum: int, _frame: object) -> None:
    raise Stopped(signum)


@contextmanager
def _signals(handler: Callable[[int, Any], Any] | int, *, sigint: bool) -> Iterator[None]:
    """Handle SIGTERM and SIGHUP (and SIGINT if sigint) with handler meanwhile."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    kinds = [signal.SIGTERM, signal.SIGHUP] + ([signal.SIGINT] if sigint else [])
    previous = {sig: signal.signal(sig, handler) for sig in kinds}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def _stop_deferred() -> AbstractContextManager[None]:
    """Let a clean-up finish even if Ctrl-C is pressed again or a stop signal arrives."""
    return _signals(signal.SIG_IGN, sigint=True)


def _stoppable(run: Callable[P, R]) -> Callable[P, R]:
    """Make SIGTERM and SIGHUP stop run the way Ctrl-C does, so its clean-up runs."""

    @functools.wraps(run)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with _signals(_raise_stopped, sigint=False):
            return run(*args, **kwargs)

    return wrapper


@_stoppable
def run_bench(
    out_dir: Path,
    *,
    quick: bool,
    modes: list[str] | None,
    progress: Progress,
    plan: Plan | None = None,
    on_plan: Callable[[int], None] | None = None,
    keep_state: bool = False,
    stack_env: Mapping[str, str] | None = None,
    parts: Collection[str] = DEFAULT_PARTS,
) -> Path:
    """Measure the named parts, write results.json and the reports into out_dir; return out_dir.

    results.json is rewritten after each measured part. Whatever happens (a failed start-up,
    an error, Ctrl-C), the stack is stopped and its temporary state dir removed, unless
    keep_state; progress says which. The parts are bench.part's names: the default plan, and the
    extras reliability (sustained load with faults, bench/parts/reliability), scale (replicas on
    PostgreSQL, failover on a Valkey Cluster), capacity (catch-up and memory) and costs.
    """
    require_report_deps()
    parts = choose(parts)
    plan = plan or Plan.make(quick)
    variants = variants_for(modes)
    if on_plan:
        on_plan(planned_steps(plan, variants, parts))
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    load_before = loadavg()
    record = Recorder(out_dir / "results.json")
    record.put(quick=plan.quick, modes=[v.mode.value for v in variants], parts=sorted(parts))
    codesize: dict[str, CodeSize] = {}
    if "codesize" in parts:
        progress("code size: counting modules through their imports")
        codesize = {
            v.label: measure_variant(ROOT, v.mode.value, v.publish.value if v.publish else None)
            for v in latency_variants(variants)
        }
        record.put(codesize=codesize)
    local_floors: dict[str, Stats] = {}
    if "latency" in parts:
        local_floors = _local_floors(plan, progress)
    record.put(floors=local_floors)
    token_costs = None
    if "tokens" in parts:
        progress("tokens: size and verify cost per packed attribute, with and without encryption")
        token_costs = tokencost.measure(plan.floor_samples * 2)
        record.put(token_costs=token_costs)
    measured = OnStack()
    soak = []
    settings_used: dict[str, str] = {}
    effective: dict[str, Any] = {}
    if needs_stack(parts):
        state = Path(tempfile.mkdtemp(prefix="lab-bench-")) / "state"
        # Every benchmark request comes from one address: login throttling (tested, not
        # measured here) would refuse the deliberate failures of the login-timing measurement.
        stack = make_stack(
            state,
            LAB_LOGIN_ACCOUNT_ALLOWANCE="1000000",
            LAB_LOGIN_ADDRESS_ALLOWANCE="1000000",
            **(stack_env or {}),
        )
        settings_used = {k: v for k, v in stack.env.items() if k != "LAB_INTERNAL_TOKEN"}
        effective = effective_settings(stack.settings)
        try:
            progress(f"starting the stack (state in {state})")
            stack.up()
            measured = _run_async(
                _on_stack(stack, plan, variants, parts, record, settings_used, progress)
            )
            if "reliability" in parts:
                soak_plan = SoakPlan.short() if plan.quick else SoakPlan()
                for variant in latency_variants(variants):
                    progress(
                        f"reliability: {variant.label} under load for {soak_plan.duration_s:g}s"
                    )
                    soak.append(run_soak(stack, variant, soak_plan, out_dir / "reliability"))
                    record.put(reliability=soak)
        finally:
            with _stop_deferred():
                stack.down()
                if keep_state:
                    progress(f"stack stopped; its state dir is kept: {state}")
                else:
                    shutil.rmtree(state.parent, ignore_errors=True)
                    progress(f"stack stopped; its state dir is removed: {state}")
    replica_results = None
    failover_rows: list[dict[str, Any]] = []
    if "scale" in parts:
        replica_results = _run_async(
            bench_replicas.run(ReplicaPlan.make(plan.quick), progress=progress)
        )
        record.put(replicas=replica_results)
        progress("failover: kill -9 and CLUSTER FAILOVER on an embedded Valkey Cluster")
        failover_rows = _run_async(failover.run_all(plan.quick))
        record.put(failover=failover_rows)
    caught_up = memory_use = None
    if "capacity" in parts:
        progress(
            f"catch-up: a consumer back to {plan.catchup.events:,} stream entries, and its floor"
        )
        caught_up = catchup.measure(plan.catchup)
        record.put(catchup=caught_up)
        users, http_users = plan.memory_users
        progress(f"memory: a lazy consumer with {users:,} users seen ({http_users:,} over HTTP)")
        memory_use = memory.measure(users, http_users)
        record.put(memory=memory_use)
    load_after = loadavg()
    floors = None
    if measured.hash_throughput is not None:
        floors = Floors(
            **local_floors,
            **measured.floors,
            hash_throughput=measured.hash_throughput,
            same_path=measured.path_floors,
        )
    if token_costs is not None and measured.gateway_tokens is not None:
        plain, sealed = measured.gateway_tokens
        token_costs = token_costs.model_copy(
            update={"gateway_plain": plain, "gateway_sealed": sealed}
        )
    results = Results(
        generated_at=datetime.now(UTC).isoformat(timespec="seconds"),
        quick=plan.quick,
        duration_s=round(time.monotonic() - started, 1),
        parts=sorted(parts),
        environment=describe(ROOT, settings_used)
        | {
            "rounds": plan.rounds,
            "seed": plan.seed,
            "variant_order": measured.variant_order,
            "effective_settings": effective,
            "loadavg_before": load_before,
            "loadavg_after": load_after,
            "busy": busy(load_before, load_after),
            "latency_sizes": plan.latency.__dict__,
            "scenario_size": plan.scenario.__dict__,
        },
        modes=[v.mode.value for v in variants],
        variants={
            v.label: {"mode": v.mode.value, "publish": v.publish.value if v.publish else None}
            for spec in SCENARIOS
            for v in spec.variants(variants)
        },
        codesize=codesize,
        floors=floors,
        latency=measured.latency,
        scenarios=measured.scenarios,
        targets=check(measured.latency, floors) if floors else [],
        reliability=[ReliabilityRun.model_validate(run) for run in soak],
        token_costs=token_costs,
        security=measured.security,
        replicas=replica_results,
        failover=failover_rows,
        catchup=caught_up,
        memory=memory_use,
    )
    record.finish(results)
    progress(f"wrote {out_dir / 'results.json'}")
    render_reports(out_dir)
    link_latest(out_dir)
    return out_dir


class UnreadableResults(ValueError):
    """A results.json that no report can be rendered from: interrupted, or of another version."""


def render_reports(out_dir: Path) -> tuple[Path, Path]:
    """Render report.md and report.html from out_dir/results.json."""
    require_report_deps()
    raw = json.loads((out_dir / "results.json").read_text())
    if raw.get("complete") is False:
        ignored = ("schema_version", "complete", "quick", "modes", "parts")
        held = ", ".join(k for k in raw if k not in ignored) or "nothing"
        raise UnreadableResults(
            f"{out_dir / 'results.json'} is from an interrupted run (it holds: {held}); "
            "a report needs a complete run"
        )
    version = raw.get("schema_version")
    if version != SCHEMA_VERSION:
        raise UnreadableResults(
            f"{out_dir / 'results.json'} has schema version {version}; this report reads "
            f"version {SCHEMA_VERSION} (run the benchmark again with this version)"
        )
    return render(out_dir)
