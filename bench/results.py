"""The shape of results.json: every figure the report is rendered from."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from fractions import Fraction
from typing import Any

from pydantic import BaseModel, Field

from common.settings import Mode

SCHEMA_VERSION = 1
MIN_P99_SAMPLES = 1000  # fewer samples than this: the p99 is not quoted, the max is


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile: the value at rank ceil(q/100 * n) of the sorted values."""
    if not sorted_values:
        raise ValueError("no values")
    rank = math.ceil(Fraction(str(q)) * len(sorted_values) / 100)
    return sorted_values[min(len(sorted_values), max(1, rank)) - 1]


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
    round_sizes: list[int] = Field(default_factory=list)  # samples holds the rounds in order

    @classmethod
    def of(cls, samples: list[float], rounds: list[list[float]] | None = None) -> Stats:
        """Percentiles (nearest rank) of samples in ms; rounds give the spread of p50."""
        data = sorted(samples)
        if not data:
            return cls(n=0, p50=0, p95=0, p99=0, mean=0, min=0, max=0)

        def pct(q: float, values: list[float]) -> float:
            return round(percentile(values, q), 4)

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
            round_sizes=[len(r) for r in rounds or [] if r]
            if rounds and sum(map(len, rounds)) == len(samples)
            else [],
        )

    @property
    def has_p99(self) -> bool:
        """Whether enough samples were taken for a p99 to mean anything."""
        return self.n >= MIN_P99_SAMPLES

    @property
    def tail(self) -> float:
        """The p99 from enough samples, else the max."""
        return self.p99 if self.has_p99 else self.max

    @property
    def tail_label(self) -> str:
        """What `tail` is: "p99", or "max" with the sample count that made it so."""
        return "p99" if self.has_p99 else f"max (n={self.n} < {MIN_P99_SAMPLES:,})"

    def per_round(self) -> list[list[float]]:
        """The samples of each round, in order (one round when rounds were not kept)."""
        if not self.round_sizes:
            return [self.samples] if self.samples else []
        out, start = [], 0
        for size in self.round_sizes:
            out.append(self.samples[start : start + size])
            start += size
        return out

    def round_p50s(self) -> list[float]:
        """The p50 of each round: from the kept samples, else the stored spread."""
        if self.round_sizes:
            return [percentile(sorted(r), 50) for r in self.per_round() if r]
        return list(self.spread_p50)


class PropagationSample(BaseModel):
    """One user.registered event reaching one consumer: its CLOCK_MONOTONIC stamps in ns
    (commit, publish, receive, provision_start, provision_commit) and the round it ran in."""

    user_id: int
    consumer: str
    round: int
    stamps: dict[str, int]


class StageFigure(BaseModel):
    """One stage of the event's path over many samples (bench.parts.latency.stamps): its
    duration in ms,
    and its share of each sample's commit-to-commit time in %."""

    stage: str
    ms: Stats  # percentiles only; the raw stamps are kept with the samples
    share_p50: float
    share_p99: float  # the max with fewer than MIN_P99_SAMPLES samples, like ms.tail


class PathFloor(BaseModel):
    """Propagation through the same path with nothing but the insert: auth-side commit and
    publish of the real signed payload, Valkey, and a consumer process whose handler only
    inserts into a SQLite file like a consumer's, under a registration burst's load."""

    transport: str  # pubsub or stream
    propagation: Stats
    samples: list[PropagationSample] = Field(default_factory=list)
    stages: list[StageFigure] = Field(default_factory=list)
    timeouts: int = 0  # events the floor consumer did not commit within the wait


class ModuleSize(BaseModel):
    """Source lines of one module (no blanks, comments or docstrings)."""

    module: str
    sloc: int


class TeamSize(BaseModel):
    """Code a team adopting one mode writes and keeps (bench/parts/codesize/team.py)."""

    product_sloc: int
    shared_event_sloc: int
    tests_sloc: int
    test_files: list[str]
    config_sloc: int
    config_files: list[str]
    plumbing_sloc: int
    plumbing_tests_sloc: int


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
    team: TeamSize | None = None


class Throughput(BaseModel):
    """Requests per second at a fixed concurrency."""

    concurrency: int
    rps: float
    duration_s: float
    requests: int
    rounds: list[tuple[int, float]] = Field(default_factory=list)  # (requests, seconds) per round

    def round_rates(self) -> list[float]:
        """Requests per second of each round."""
        return [n / t for n, t in self.rounds if t > 0]


class ModeLatency(BaseModel):
    """Latency figures of one mode (ms)."""

    registration: Stats
    login: Stats
    first_call: Stats
    steady: Stats
    verify_only: Stats
    propagation: Stats | None = None  # event modes: commit to each consumer having the user
    propagation_timeouts: int = 0  # (user, consumer) pairs not known within the wait
    propagation_unstamped: int = 0  # pairs known within the wait but missing a stage stamp
    propagation_samples: list[PropagationSample] = Field(default_factory=list)
    propagation_stages: list[StageFigure] = Field(default_factory=list)
    steady_miss: Stats | None = None  # /whoami once the user's known-user cache entry expired
    verify_miss: Stats | None = None  # /verify for the same users at the same moment
    first_call_extra: Stats | None = None  # per user and consumer: first call − the next call
    matched_hash: Throughput | None = None  # raw argon2id rate right after each registration burst
    registration_throughput: Throughput
    steady_throughput: Throughput
    verify_throughput: Throughput
    valkey_users: list[str] = Field(default_factory=list)  # ACL users seen using Valkey
    # (start, end) epoch seconds of each round; round i of every Stats above ran inside it
    round_windows: list[tuple[float, float]] = Field(default_factory=list)


class Floors(BaseModel):
    """Reference lines measured in the same run (ms)."""

    valkey_pubsub: Stats  # PUBLISH to a subscriber receiving it
    valkey_stream: Stats  # XADD to a blocked XREADGROUP receiving it
    db_insert: Stats  # one provisioning insert into a consumer's SQLite database
    jwt_verify: Stats  # PyJWT verify of one RS256 token, in process
    bare_fastapi: Stats  # GET on a FastAPI endpoint that does nothing, over HTTP
    argon2_hash: Stats  # one argon2id hash with the service's parameters
    hash_throughput: Throughput  # argon2id hashes/s at the registration concurrency
    same_path: dict[str, PathFloor] = Field(default_factory=dict)  # by transport

    def path_floor(self, mode: str) -> PathFloor | None:
        """The same-path floor on a mode's transport (hybrid rides the stream)."""
        transport = Mode(mode).transport
        return self.same_path.get(transport) if transport else None

    def p50_of(self, parts: Iterable[str]) -> float:
        """The sum of some floors' p50s."""
        return sum(getattr(self, p).p50 for p in parts)


def floor_parts(op: str, mode: str) -> tuple[str, ...]:
    """The floors an operation of a mode cannot beat: the one list of them."""
    provisions: tuple[str, ...] = ("db_insert",) if mode in ("lazy", "hybrid") else ()
    parts: dict[str, tuple[str, ...]] = {
        "registration": ("bare_fastapi", "argon2_hash"),
        "login": ("bare_fastapi", "argon2_hash"),
        "first_call": ("bare_fastapi", "jwt_verify", *provisions),
        "first_call_extra": ("jwt_verify", *provisions),
        "steady": ("bare_fastapi", "jwt_verify"),
        "verify_only": ("bare_fastapi", "jwt_verify"),
        "steady_miss": ("bare_fastapi", "jwt_verify"),
        "verify_miss": ("bare_fastapi", "jwt_verify"),
    }
    return parts[op]


class Security(BaseModel):
    """What the security measures cost (ms), and login timing by kind of failure."""

    login_unknown: Stats
    login_wrong_password: Stats
    login_deactivated: Stats
    event_alg: str
    event_sign: Stats  # signing one event in process
    event_verify: Stats  # verifying one event in process, the key already cached
    publish_admin: Stats  # PUBLISH round trip as the admin user
    publish_acl_user: Stats  # the same as auth's restricted ACL user


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
    missed_ids: list[int] = Field(default_factory=list)  # users this consumer never knew
    lazy_ids: list[int] = Field(default_factory=list)  # users it provisioned at a first call
    missed_at_first_check: int | None = None  # before waiting out the longest redelivery


class ScenarioRun(BaseModel):
    """One scenario in one mode variant."""

    mode: str
    publish: str | None
    users: int
    duration_s: float
    consumers: dict[str, ConsumerOutcome]
    user_ids: list[int] = Field(default_factory=list)
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
    interval: tuple[float, float] | None = None  # 95% CI of `measured`, bootstrap over rounds


class ReliabilityRun(BaseModel):
    """One variant under sustained load with faults injected mid-run (bench/parts/reliability)."""

    variant: str
    plan: dict[str, Any]
    load: dict[str, Any]  # p50/p99/rps overall and per kind; answers as "kind status" -> count
    faults: list[dict[str, Any]]  # what was broken, and when
    rss_mb: list[dict[str, Any]]  # samples: t_s and MiB per process
    promise: dict[str, Any]  # bench.parts.reliability.promise.PromiseCheck


class TokenPoint(BaseModel):
    """One packing: its size and per-call costs."""

    packed: str
    attributes: int
    attribute_bytes: int  # the packed claims as compact JSON, attributes_version included
    token_bytes: int
    header_bytes: int
    sealed_bytes: int
    verify_us: float
    decrypt_verify_us: float


class TokenCosts(BaseModel):
    """Token size against packed attributes, and what size and encryption cost per call."""

    points: list[TokenPoint]
    # Slopes per 100 bytes of packed attributes (least squares over the points).
    verify_us_per_100_bytes: float
    header_bytes_per_100_bytes: float
    sealed_bytes_per_100_bytes: float
    decrypt_verify_us_per_100_bytes: float
    samples_per_point: int
    gateway_plain: Stats | None = None  # steady /whoami through the gateway, plain token
    gateway_sealed: Stats | None = None  # the same with LAB_TOKEN_ENCRYPT, same run


class ReplicaLoad(BaseModel):
    """One event mode with two replicas per consumer: what each replica received and did."""

    variant: str
    users: int
    # process name -> events_received, event_provisions, duplicates_ignored, calls_served
    replicas: dict[str, dict[str, int]]
    expected: str  # what the mode promises about the replicas of a consumer
    met: bool
    records_per_user: dict[str, float]  # service -> its records / users: 1.0 is exactly once


class AuthScaling(BaseModel):
    """Registrations per second through the gateway with one and with two auth processes, in
    interleaved rounds of the same run."""

    rates: dict[str, list[float]]  # "1" or "2" auth processes -> registrations/s of each round
    registered: dict[str, int]
    failed: dict[str, int]
    per_process: dict[str, int]  # what each auth process served in the two-process rounds
    exactly_once: dict[str, bool]  # consumer service -> every user known, each exactly once
    variant: str
    concurrency: int


class ReplicaResults(BaseModel):
    """The replicas scenario: consumer replicas per event mode, and auth processes."""

    consumers: list[ReplicaLoad]
    auth: AuthScaling
    environment: dict[str, Any] = Field(default_factory=dict)


class CatchUp(BaseModel):
    """A consumer catching up with a backlog of stream entries, against a floor of raw
    XREADGROUP batches plus one bulk insert, measured in the same run
    (bench/parts/capacity/catchup.py)."""

    events: int
    batch: int  # entries per XREADGROUP, per transaction and per XACK
    events_per_s: float
    seconds: float
    floor_events_per_s: float  # the faster of the floors measured before and after
    # read_s, insert_s, events_per_s (and verify_s, verified_events_per_s) of each floor
    floors: list[dict[str, float]]
    ratio: float  # events_per_s / floor_events_per_s
    # the floor plus verifying every entry as the consumer must: the faster of the two; 0 in
    # results from before it was measured
    verified_floor_events_per_s: float = 0.0
    verified_ratio: float = 0.0  # events_per_s / verified_floor_events_per_s
    target_ratio: float
    target_events_per_s: float
    batch_ms: Stats  # from a batch's XREADGROUP reply to its XACK
    stages_us: dict[str, float]  # per event, on a sample: verify_us, apply_us
    known_users: int
    records: int  # the service's own rows (profiles)
    pending_after: int
    dead_lettered: int
    event_bytes: int  # mean size of one signed event
    environment: dict[str, Any]

    @property
    def met(self) -> bool:
        """Both targets: the share of the floor, and the events per second."""
        return self.ratio >= self.target_ratio and self.events_per_s >= self.target_events_per_s


class MemoryRun(BaseModel):
    """A consumer's RSS as distinct users are seen, in one way of driving it
    (bench/parts/capacity/memory.py)."""

    where: str
    idle_mb: float  # MiB before the first user
    points: list[tuple[int, float]]  # (users seen, RSS MiB)
    per_user: dict[str, int]  # entries in each bounded per-user structure at the end
    known_users: int
    seconds: float
    slope_kb_per_user: float = 0.0  # least squares over Memory.slope_range


class Memory(BaseModel):
    """A lazy consumer's memory with many distinct users seen, against the same one idle."""

    users: int  # driven in process
    http_users: int  # driven over HTTP through the real process
    idle_mb: float
    at_users_mb: float
    delta_mb: float
    target_delta_mb: float
    slope_range: tuple[int, int]  # users over which both slopes are fitted
    http: MemoryRun
    in_process: MemoryRun
    bounds: dict[str, int]  # setting -> users it bounds
    known_cache_ttl_s: float

    @property
    def met(self) -> bool:
        return self.delta_mb <= self.target_delta_mb


class Results(BaseModel):
    """Everything one benchmark run measured."""

    schema_version: int = SCHEMA_VERSION
    complete: bool = True  # false in the results.json of a run still going, or interrupted
    generated_at: str
    quick: bool
    duration_s: float
    parts: list[str] = Field(default_factory=list)  # bench.part's names; empty: not recorded
    environment: dict[str, Any]
    modes: list[str]
    variants: dict[str, dict[str, str | None]]  # label -> {"mode", "publish"}
    codesize: dict[str, CodeSize] = Field(default_factory=dict)
    floors: Floors | None = None  # measured with the latency
    latency: dict[str, ModeLatency] = Field(default_factory=dict)
    scenarios: list[Scenario] = Field(default_factory=list)
    targets: list[Target] = Field(default_factory=list)
    reliability: list[ReliabilityRun] = Field(default_factory=list)
    token_costs: TokenCosts | None = None  # packing and encryption, measured in the same run
    security: Security | None = None
    replicas: ReplicaResults | None = None  # bench --with scale (PostgreSQL)
    failover: list[dict[str, Any]] = Field(
        default_factory=list
    )  # bench --with scale: bench.parts.scale.failover rows
    catchup: CatchUp | None = None  # a consumer catching up with a stream backlog
    memory: Memory | None = None  # a lazy consumer's RSS with many users seen
