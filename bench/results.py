"""The shape of results.json: every figure the report is rendered from."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

SCHEMA_VERSION = 1


class Stats(BaseModel):
    """Latency figures in milliseconds, with the raw samples they came from."""

    n: int
    p50: float
    p95: float
    p99: float
    mean: float
    min: float
    max: float
    spread_p50: list[float] = Field(default_factory=list)  # p50 of each round, to show noise
    samples: list[float] = Field(default_factory=list)

    @classmethod
    def of(cls, samples: list[float], rounds: list[list[float]] | None = None) -> Stats:
        """Percentiles (nearest rank) of samples in ms; rounds give the spread of p50."""
        data = sorted(samples)
        if not data:
            return cls(n=0, p50=0, p95=0, p99=0, mean=0, min=0, max=0)

        def pct(q: float, values: list[float]) -> float:
            idx = max(0, min(len(values) - 1, int(round(q / 100 * len(values) + 0.5)) - 1))
            return round(values[idx], 4)

        spread = [pct(50, sorted(r)) for r in rounds or [] if r]
        return cls(
            n=len(data),
            p50=pct(50, data),
            p95=pct(95, data),
            p99=pct(99, data),
            mean=round(sum(data) / len(data), 4),
            min=round(data[0], 4),
            max=round(data[-1], 4),
            spread_p50=spread,
            samples=[round(x, 4) for x in samples],
        )


class ModuleSize(BaseModel):
    """Source lines of one module (no blanks, comments or docstrings)."""

    module: str
    sloc: int


class CodeSize(BaseModel):
    """How much code and infrastructure one mode needs."""

    auth_sloc: int
    consumer_sloc: int
    total_sloc: int
    auth_modules: list[ModuleSize]
    consumer_modules: list[ModuleSize]
    processes: list[str]
    needs_valkey: bool
    settings: list[str]


class Throughput(BaseModel):
    """Requests per second at a fixed concurrency."""

    concurrency: int
    rps: float
    duration_s: float
    requests: int


class ModeLatency(BaseModel):
    """Latency figures of one mode (ms)."""

    registration: Stats
    login: Stats
    first_call: Stats
    steady: Stats
    verify_only: Stats
    propagation: Stats | None = None  # event modes: commit to each consumer having the user
    registration_throughput: Throughput
    steady_throughput: Throughput
    verify_throughput: Throughput


class Floors(BaseModel):
    """Reference lines measured in the same run (ms)."""

    valkey_pubsub: Stats  # PUBLISH to a subscriber receiving it
    valkey_stream: Stats  # XADD to a blocked XREADGROUP receiving it
    db_insert: Stats  # one provisioning insert into a consumer's SQLite database
    jwt_verify: Stats  # PyJWT verify of one RS256 token, in process
    bare_fastapi: Stats  # GET on a FastAPI endpoint that does nothing, over HTTP
    argon2_hash: Stats  # one argon2id hash with the service's parameters
    hash_throughput: Throughput  # argon2id hashes/s at the registration concurrency


class ConsumerOutcome(BaseModel):
    """What one consumer ended up knowing in one scenario run."""

    known: int
    missed: int
    time_to_consistent_s: float | None  # None: never consistent within the run
    duplicates: int  # provision records beyond one per user (must be 0)
    duplicates_ignored: int  # deliveries/provisions deduplicated by idempotency
    unknown_user_refusals: int
    welcome_messages: int
    awareness: list[tuple[float, int]]  # (seconds since the scenario's start, users known)
    extra: dict[str, Any] = Field(default_factory=dict)


class ScenarioRun(BaseModel):
    """One scenario in one mode variant."""

    mode: str
    publish: str | None
    users: int
    duration_s: float
    consumers: dict[str, ConsumerOutcome]
    figures: dict[str, Any] = Field(default_factory=dict)  # scenario-specific numbers
    notes: list[str] = Field(default_factory=list)


class Scenario(BaseModel):
    """One fault scenario across mode variants."""

    id: int
    title: str
    question: str
    runs: dict[str, ScenarioRun]  # key: variant label such as "streams+outbox"


class Target(BaseModel):
    """A target from the brief, checked against figures of this run."""

    name: str
    mode: str | None
    measured: float
    limit: float
    unit: str
    met: bool
    detail: str
    reason: str = ""  # for a missed target: what the figures of this run say about why


class Results(BaseModel):
    """Everything one benchmark run measured."""

    schema_version: int = SCHEMA_VERSION
    generated_at: str
    quick: bool
    duration_s: float
    environment: dict[str, Any]
    modes: list[str]
    variants: dict[str, dict[str, str | None]]  # label -> {"mode", "publish"}
    codesize: dict[str, CodeSize]
    floors: Floors
    latency: dict[str, ModeLatency]
    scenarios: list[Scenario]
    targets: list[Target]
