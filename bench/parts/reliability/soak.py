"""Sustained load with faults injected mid-run: locust drives the gateway while processes are
killed and Valkey is broken; RSS is sampled; then the mode is held to its promise."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from bench.harness import Variant
from bench.parts.reliability.faults import FAULT_KINDS, FaultInjector
from bench.parts.reliability.promise import check_promise, max_user_id
from common.settings import CONSUMER_SERVICES, Mode
from lab.processes import ROOT, Stack

Progress = Callable[[str], None]


@dataclass(frozen=True)
class SoakPlan:
    """How long, how many simulated people, and how many faults of which kinds (in turn)."""

    duration_s: float = 60.0
    users: int = 10
    spawn_rate: float = 5.0
    faults: int = 4
    kinds: tuple[str, ...] = FAULT_KINDS
    settle_s: float = 30.0
    sample_every_s: float = 0.5

    @classmethod
    def short(cls, kinds: tuple[str, ...] = FAULT_KINDS) -> SoakPlan:
        """The version CI runs: a few seconds, one fault of each kind."""
        return cls(
            duration_s=20.0, users=4, spawn_rate=4.0, faults=len(kinds), kinds=kinds, settle_s=20.0
        )


def wait_subscribers(stack: Stack, mode: Mode, timeout: float = 20.0) -> None:
    """Poll until each consumer's subscriber is in the state the mode needs."""
    want = "off" if mode is Mode.LAZY else "connected"
    deadline = time.monotonic() + timeout
    for service in CONSUMER_SERVICES:
        port = stack.spec(service).port
        while stack.client().internal(port, "GET", "status")["subscriber"] != want:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{service} subscriber did not become {want}")
            time.sleep(0.1)


def _rss_mb(stack: Stack) -> dict[str, float]:
    out = {}
    for spec in stack.specs():
        pid = stack.pid(spec.name)
        try:
            proc = psutil.Process(pid) if pid else None
            if proc is not None:
                rss = proc.memory_info().rss + sum(
                    c.memory_info().rss for c in proc.children(recursive=True)
                )
                out[spec.name] = round(rss / 2**20, 1)
        except psutil.Error:
            continue
    return out


def _fault_times(plan: SoakPlan, rng: random.Random) -> list[float]:
    """Random points in the first half of the run, so that the load goes on long enough after
    the last one for the stack to recover under it (a restart takes seconds on 2 cores)."""
    return sorted(rng.uniform(0.1, 0.45) * plan.duration_s for _ in range(plan.faults))


def run_soak(
    stack: Stack,
    variant: Variant,
    plan: SoakPlan,
    work_dir: Path,
    seed: int = 8725,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """One sustained run of one variant on a running stack; the figures as JSON-able data."""
    say = progress or (lambda _line: None)
    stack.set_mode(variant.mode, variant.publish)
    wait_subscribers(stack, variant.mode)
    after_id = max_user_id(stack)
    rng = random.Random(seed)
    injector = FaultInjector(stack, rng)
    pending = _fault_times(plan, rng)
    out = work_dir / f"load-{variant.label}.json"
    work_dir.mkdir(parents=True, exist_ok=True)
    gateway = f"http://127.0.0.1:{stack.settings.lab_gateway_port}"
    args = [sys.executable, "-m", "bench.parts.reliability.locust_run", "--host", gateway]
    args += ["--users", str(plan.users), "--spawn-rate", str(plan.spawn_rate)]
    args += ["--duration", str(plan.duration_s), "--out", str(out)]
    log = (work_dir / f"locust-{variant.label}.log").open("wb")
    marker = out.with_suffix(".started")  # locust_run.started_marker; locust is not imported here
    marker.unlink(missing_ok=True)
    rss: list[dict[str, Any]] = []
    failed: list[BaseException] = []

    def inject() -> None:
        """The faults, in turn, each at its point of the run (a slow restart delays the next)."""
        try:
            for i, at in enumerate(pending):
                time.sleep(max(0.0, at - (time.monotonic() - injector.started)))
                kind = plan.kinds[i % len(plan.kinds)]
                say(f"{variant.label}: {kind} at {time.monotonic() - injector.started:.1f}s")
                getattr(injector, kind)()
        # Surfaced by the caller once the load is over, whatever it was.
        except BaseException as exc:  # noqa: BLE001
            failed.append(exc)

    faults = threading.Thread(target=inject, name="faults", daemon=True)
    with subprocess.Popen(args, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT) as load:
        try:
            deadline = time.monotonic() + 120
            while not marker.exists() and load.poll() is None and time.monotonic() < deadline:
                time.sleep(0.05)
            injector.started = time.monotonic()
            faults.start()
            while load.poll() is None:
                elapsed = time.monotonic() - injector.started
                rss.append({"t_s": round(elapsed, 1), **_rss_mb(stack)})
                if elapsed > plan.duration_s + 120:
                    raise RuntimeError("the load generator did not stop")
                time.sleep(plan.sample_every_s)
        finally:
            if load.poll() is None:
                load.kill()
            log.close()
            if faults.ident is not None:  # started: let it finish its faults
                faults.join(timeout=300)
    if failed:
        raise RuntimeError(f"a fault could not be injected: {failed[0]}") from failed[0]
    if load.returncode != 0 or not out.exists():
        raise RuntimeError(f"locust failed (exit {load.returncode}); see {log.name}")
    say(f"{variant.label}: load done, checking the promise")
    promise = check_promise(stack, variant, after_id, plan.settle_s)
    return {
        "variant": variant.label,
        "plan": {"duration_s": plan.duration_s, "users": plan.users, "faults": plan.faults},
        "load": json.loads(out.read_text()),
        "faults": injector.log,
        "rss_mb": rss,
        "promise": promise.as_json(),
    }
