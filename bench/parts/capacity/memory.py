"""Memory: a lazy consumer's RSS with many distinct users seen, against the same consumer idle
(`bench --with capacity`).

Two measurements, on a stack of Valkey, auth and the profiles consumer in a temporary state dir:

- the real process, over HTTP: the profiles consumer (uvicorn, started as `up` starts it) is
  called on /whoami, once per user, with access tokens signed by auth's key exactly as auth's
  login signs them. RSS (psutil) idle, then at checkpoints.
- the same consumer app in a child process, driven in process up to 1,000,000 users: the app's
  own lifespan builds the service (settings, engine, verifier, discovery) and each call takes
  the route's path without HTTP: the verifier (real tokens, until its cache is past its bound)
  and the discovery's resolve (the verified claims, for the users after that, since signing a
  million tokens would take longer than the rest). RSS idle, then at checkpoints.

Both count the users over the same first range, so their per-user slopes can be compared: if
they agree, the child's figure at 1,000,000 stands for the real process.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Mapping
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import psutil

from auth.keys import KeyStore
from bench.harness import make_stack
from bench.results import Memory, MemoryRun
from common.settings import Settings
from common.tokens import Claims, mint_access_token
from lab.processes import Stack

SERVICE = "profiles"
TARGET_DELTA_MB = 100.0
HTTP_CONCURRENCY = 4
BOUND_SETTINGS = (
    "lab_known_cache_size",
    "lab_seen_users_size",
    "lab_blocked_users_size",
    "lab_token_cache_size",
)


def checkpoints(users: int) -> list[int]:
    """0, then 1-2-5 steps from 100 up to users."""
    out, step = [0], 100
    while step < users:
        out += [n for n in (step, 2 * step, 5 * step) if n < users]
        step *= 10
    return sorted({*out, users})


def rss_mb(pid: int) -> float:
    """RSS of a process and its children, in MiB."""
    proc = psutil.Process(pid)
    rss = proc.memory_info().rss + sum(c.memory_info().rss for c in proc.children(recursive=True))
    return round(rss / 2**20, 2)


def _attributes(user_id: int) -> dict[str, Any]:
    return {"display_name": f"user-{user_id}", "plan": "free"}


def _mint_range(env: dict[str, str], first: int, count: int) -> list[str]:
    """Access tokens for users first..first+count-1, signed with auth's active key."""
    settings = Stack(env=env).settings
    key = KeyStore(settings.keys_dir, settings.lab_jwt_alg.value, settings.lab_token_ttl).active
    return [
        mint_access_token(
            key,
            user_id=user_id,
            issuer=settings.lab_issuer,
            audience=settings.lab_audience,
            client_id=settings.lab_client_id,
            ttl=settings.lab_token_ttl,
            attributes=_attributes(user_id),
            attributes_version=1,
        )
        for user_id in range(first, first + count)
    ]


def mint_tokens(stack: Stack, users: int) -> list[str]:
    """Tokens for users 1..users, on every core (RS256 signing is the slow part)."""
    workers = max(1, os.cpu_count() or 1)
    step = max(1, -(-users // workers))
    firsts = list(range(1, users + 1, step))
    with ProcessPoolExecutor(workers) as pool:
        chunks = pool.map(
            _mint_range,
            [stack.env] * len(firsts),
            firsts,
            [min(step, users + 1 - f) for f in firsts],
        )
        return [token for chunk in chunks for token in chunk]


async def over_http(stack: Stack, tokens: list[str]) -> MemoryRun:
    """The real consumer process: /whoami once per user, RSS at checkpoints."""
    pid = stack.pid(SERVICE)
    assert pid is not None, "the consumer is not running"
    port = stack.spec(SERVICE).port
    base = f"http://127.0.0.1:{port}"
    idle = rss_mb(pid)
    points: list[tuple[int, float]] = [(0, idle)]
    started = time.perf_counter()
    async with httpx.AsyncClient(base_url=base, timeout=30.0) as http:
        done = 0
        for mark in checkpoints(len(tokens))[1:]:
            while done < mark:
                chunk = tokens[done : min(mark, done + HTTP_CONCURRENCY)]
                answers = await asyncio.gather(
                    *(http.get("/whoami", headers={"Authorization": f"Bearer {t}"}) for t in chunk)
                )
                bad = [a.status_code for a in answers if a.status_code != 200]
                assert not bad, f"/whoami answered {bad[0]}"
                done += len(chunk)
            points.append((done, rss_mb(pid)))
        status = (
            await http.get(
                "/internal/status", headers={"X-Internal-Token": stack.settings.internal_token()}
            )
        ).json()
    return MemoryRun(
        where="the consumer process, over HTTP",
        idle_mb=idle,
        points=points,
        per_user=status["per_user"],
        known_users=status["known_users"],
        seconds=round(time.perf_counter() - started, 1),
    )


async def _drive(settings: Settings, tokens: list[str], users: int) -> dict[str, Any]:
    """In the child: the consumer app's lifespan, then each user through the route's path."""
    from consumers.app import create_app  # the child imports the product; the parent needn't

    app = create_app(settings, SERVICE)
    pid = os.getpid()
    async with app.router.lifespan_context(app):
        service = app.state.service
        idle = rss_mb(pid)
        points: list[tuple[int, float]] = [(0, idle)]
        started = time.perf_counter()
        now = int(time.time())
        user_id = 0
        for mark in checkpoints(users)[1:]:
            while user_id < mark:
                user_id += 1
                if user_id <= len(tokens):
                    claims = await service.verifier.verify(tokens[user_id - 1])
                else:  # what the verifier returns for such a token
                    claims = Claims(
                        user_id=user_id,
                        sub=str(user_id),
                        client_id=settings.lab_client_id,
                        jti=uuid.uuid4().hex,
                        iat=now,
                        exp=now + settings.lab_token_ttl,
                        kid="",
                        attributes=_attributes(user_id),
                        attributes_version=1,
                    )
                await service.discovery.resolve(claims)
            points.append((user_id, rss_mb(pid)))
            print(f"{user_id} users: {points[-1][1]} MiB", file=sys.stderr, flush=True)
        seconds = time.perf_counter() - started
        status = await service.status()
    return {
        "where": "the consumer app in a child process, in process",
        "idle_mb": idle,
        "points": points,
        "per_user": status["per_user"],
        "known_users": status["known_users"],
        "seconds": round(seconds, 1),
    }


def in_process(stack: Stack, tokens: list[str], users: int, work: Path) -> MemoryRun:
    """Run the in-process drive in a fresh child with the stack's settings and its own DB."""
    tokens_file = work / "tokens.json"
    tokens_file.write_text(json.dumps(tokens))
    env = {
        **stack.child_env(),
        "PROFILES_DATABASE_URL": f"sqlite:///{work / 'in-process.sqlite3'}",
        "LAB_MODE": "lazy",
    }
    out = subprocess.run(
        [sys.executable, "-m", "bench.parts.capacity.memory", str(users), str(tokens_file)],
        env=env,
        stdout=subprocess.PIPE,  # its progress goes to stderr, as it comes
        text=True,
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"the in-process drive failed with exit code {out.returncode}")
    return MemoryRun.model_validate_json(out.stdout.strip().splitlines()[-1])


def slope_kb(run: MemoryRun, low: int, high: int) -> float:
    """Least-squares KiB per user over the checkpoints in [low, high]."""
    pts = [(u, mb) for u, mb in run.points if low <= u <= high]
    if len(pts) < 2:
        return 0.0
    mean_u = sum(u for u, _ in pts) / len(pts)
    mean_m = sum(m for _, m in pts) / len(pts)
    num = sum((u - mean_u) * (m - mean_m) for u, m in pts)
    den = sum((u - mean_u) ** 2 for u, _ in pts)
    return round(num / den * 1024, 3) if den else 0.0


def measure(users: int, http_users: int, stack_env: Mapping[str, str] | None = None) -> Memory:
    """Start Valkey, auth and the consumer in a temporary state dir; measure; stop; clean up."""
    work = Path(tempfile.mkdtemp(prefix="lab-memory-"))
    stack = make_stack(work / "state", LAB_MODE="lazy", **(stack_env or {}))
    try:
        for name in ("valkey", "auth", SERVICE):
            stack.start(name)
        settings = stack.settings
        # enough real tokens to fill the token cache past its bound, if the run is that big
        past_bound = min(users, settings.lab_token_cache_size + 1000)
        tokens = mint_tokens(stack, max(http_users, past_bound))
        http = asyncio.run(over_http(stack, tokens[:http_users]))
        child = in_process(stack, tokens[: min(users, len(tokens))], users, work)
    finally:
        for name in (SERVICE, "auth", "valkey"):
            stack.stop(name)
        shutil.rmtree(work, ignore_errors=True)
    low = min(u for u, _ in http.points if u >= http_users // 10)  # past the first calls' warm-up
    http.slope_kb_per_user = slope_kb(http, low, http_users)
    child.slope_kb_per_user = slope_kb(child, low, http_users)
    at = child.points[-1][1]
    return Memory(
        users=users,
        http_users=http_users,
        idle_mb=child.idle_mb,
        at_users_mb=at,
        delta_mb=round(at - child.idle_mb, 2),
        target_delta_mb=TARGET_DELTA_MB,
        slope_range=(low, http_users),
        http=http,
        in_process=child,
        bounds={name: int(getattr(settings, name)) for name in BOUND_SETTINGS},
        known_cache_ttl_s=settings.lab_known_cache_ttl,
    )


def summary(result: Memory) -> str:
    """One paragraph for a terminal."""
    http, child = result.http, result.in_process
    return (
        f"memory of a lazy consumer: idle {result.idle_mb:.1f} MiB, "
        f"{result.at_users_mb:.1f} MiB with {result.users:,} users seen: "
        f"+{result.delta_mb:.1f} MiB (target ≤ {result.target_delta_mb:.0f}); "
        f"slope over users {result.slope_range[0]:,}–{result.slope_range[1]:,}: "
        f"{http.slope_kb_per_user} KiB/user over HTTP (idle {http.idle_mb:.1f} MiB, "
        f"+{http.points[-1][1] - http.idle_mb:.1f} MiB at {result.http_users:,}), "
        f"{child.slope_kb_per_user} KiB/user in process; sizes at the end: {child.per_user}"
    )


def sizes(quick: bool) -> tuple[int, int]:
    """(users in process, users over HTTP) of a run."""
    return (20_000, 1_000) if quick else (1_000_000, 5_000)


# The child in_process() starts: python -m bench.parts.capacity.memory USERS TOKENS_FILE
if __name__ == "__main__":
    drive_users, tokens_file = sys.argv[1:3]
    drive_tokens = json.loads(Path(tokens_file).read_text())
    print(json.dumps(asyncio.run(_drive(Settings(), drive_tokens, int(drive_users)))), flush=True)
