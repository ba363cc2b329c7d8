"""Run the whole benchmark on a real stack and write results.json and the reports."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bench import floors as fl
from bench.environment import describe
from bench.harness import Harness, Variant, make_stack
from bench.latency import Sizes, measure_all
from bench.results import CodeSize, Floors, Results, Scenario
from bench.scenarios import SCENARIOS
from bench.scenarios.base import Size
from bench.targets import check

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_VARIANTS = ("lazy", "pubsub+direct", "streams+outbox", "hybrid+outbox")
# Measured for latency only, beside streams+outbox, so the outbox's own cost is a figure too.
LATENCY_EXTRA = ("streams+direct",)
Progress = Callable[[str], None]


@dataclass(frozen=True)
class Plan:
    """How big a run is."""

    quick: bool
    rounds: int
    latency: Sizes
    scenario: Size
    floor_samples: int

    @classmethod
    def make(cls, quick: bool) -> Plan:
        if quick:
            return cls(
                True,
                2,
                Sizes(registrations=6, steady_calls=200, throughput_s=0.4, hash_s=1.0),
                Size(users=5, settle_s=1.2, quick=True),
                floor_samples=200,
            )
        return cls(
            False,
            5,
            Sizes(registrations=16, steady_calls=1500, throughput_s=3.0, hash_s=5.0),
            Size(users=24, settle_s=5.0, quick=False),
            floor_samples=1000,
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


def default_out_dir(root: Path = ROOT) -> Path:
    """reports/<timestamp>/ under the checkout."""
    return root / "reports" / datetime.now().strftime("%Y%m%d-%H%M%S")


def link_latest(out_dir: Path) -> None:
    """Point reports/latest at out_dir when it lives under reports/."""
    reports = out_dir.parent
    if reports.name != "reports":
        return
    latest = reports / "latest"
    if latest.is_symlink() or latest.exists():
        latest.unlink()
    latest.symlink_to(out_dir.name)


async def _run(out_dir: Path, plan: Plan, variants: list[Variant], progress: Progress) -> Results:
    started = time.monotonic()
    from bench.codesize import measure_variant

    extra = [
        Variant.parse(x)
        for x in LATENCY_EXTRA
        if Variant.parse(x).mode in {v.mode for v in variants}
    ]
    progress("code size: counting modules through their imports")
    codesize = {
        v.label: CodeSize.model_validate(
            measure_variant(ROOT, v.mode.value, v.publish.value if v.publish else None)
        )
        for v in [*variants, *extra]
    }
    progress("floors: JWT verify, SQLite insert, argon2id, bare FastAPI")
    n = plan.floor_samples
    jwt_samples = fl.jwt_verify(n * 2)
    insert_samples = fl.db_insert(n)
    hashes = fl.argon2_hashes(4 if plan.quick else 12)
    bare = await fl.bare_fastapi(n * 2)
    state = Path(tempfile.mkdtemp(prefix="lab-bench-")) / "state"
    stack = make_stack(state)
    progress(f"starting the stack (state in {state})")
    await asyncio.to_thread(stack.up)
    h = Harness(stack)
    settings_used = {k: v for k, v in stack.env.items() if k != "LAB_INTERNAL_TOKEN"}
    try:
        url = stack.settings.effective_valkey_url
        progress("floors: Valkey PUBLISH→receive and XADD→XREADGROUP")
        pubsub_floor = fl.stats(await fl.valkey_pubsub(url, n))
        stream_floor = fl.stats(await fl.valkey_stream(url, n))
        extra = [
            Variant.parse(x)
            for x in LATENCY_EXTRA
            if Variant.parse(x).mode in {v.mode for v in variants}
        ]
        latency, hash_tp = await measure_all(
            h, [*variants, *extra], plan.latency, plan.rounds, progress
        )
        floors = Floors(
            valkey_pubsub=pubsub_floor,
            valkey_stream=stream_floor,
            db_insert=fl.stats(insert_samples),
            jwt_verify=fl.stats(jwt_samples),
            bare_fastapi=fl.stats(bare),
            argon2_hash=fl.stats(hashes),
            hash_throughput=hash_tp,
        )
        scenarios = []
        for spec in SCENARIOS:
            runs = {}
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
                    runs[variant.label] = await spec.run(h, variant, plan.scenario)
            finally:
                if auth_env:
                    await h.restart_auth(**saved)
            scenarios.append(
                Scenario(id=spec.id, title=spec.title, question=spec.question, runs=runs)
            )
    finally:
        await h.close()
        await asyncio.to_thread(stack.down)
        shutil.rmtree(state.parent, ignore_errors=True)
    return Results(
        generated_at=datetime.now(UTC).isoformat(timespec="seconds"),
        quick=plan.quick,
        duration_s=round(time.monotonic() - started, 1),
        environment=describe(ROOT, settings_used)
        | {
            "rounds": plan.rounds,
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
        latency=latency,
        scenarios=scenarios,
        targets=check(latency, floors),
    )


def run_bench(
    out_dir: Path,
    *,
    quick: bool,
    modes: list[str] | None,
    progress: Progress,
    plan: Plan | None = None,
) -> Path:
    """Run everything, write results.json and the reports into out_dir; return out_dir."""
    plan = plan or Plan.make(quick)
    variants = variants_for(modes)
    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        import uvloop
    except ImportError:
        results = asyncio.run(_run(out_dir, plan, variants, progress))
    else:
        results = uvloop.run(_run(out_dir, plan, variants, progress))
    (out_dir / "results.json").write_text(results.model_dump_json(indent=1))
    progress(f"wrote {out_dir / 'results.json'}")
    render_reports(out_dir)
    link_latest(out_dir)
    return out_dir


def render_reports(out_dir: Path) -> tuple[Path, Path]:
    """Render report.md and report.html from out_dir/results.json."""
    from bench.report import render

    return render(out_dir)
