"""Settings for every process, read from the environment (pydantic-settings)."""

from __future__ import annotations

import contextlib
import os
import secrets
from enum import StrEnum
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from common.attributes import parse_names
from common.forwarded import Network, parse_networks
from common.statefiles import make_private_dirs


class Mode(StrEnum):
    """How consumer services learn that a user exists."""

    LAZY = "lazy"
    PUBSUB = "pubsub"
    STREAMS = "streams"
    HYBRID = "hybrid"

    @property
    def transport(self) -> Transport | None:
        """Where this mode's events travel: the pub/sub channel, the stream, or nowhere."""
        return _TRANSPORTS[self]


Transport = Literal["pubsub", "stream"]
_TRANSPORTS: dict[Mode, Transport | None] = {
    Mode.LAZY: None,
    Mode.PUBSUB: "pubsub",
    Mode.STREAMS: "stream",
    Mode.HYBRID: "stream",
}


class Publish(StrEnum):
    """How the auth service publishes events."""

    DIRECT = "direct"
    OUTBOX = "outbox"


class JwtAlg(StrEnum):
    """Asymmetric signing algorithms on the allow-list."""

    RS256 = "RS256"
    EDDSA = "EdDSA"


class Topology(StrEnum):
    """The embedded Valkey: one node, or a cluster of three primaries and three replicas."""

    SINGLE = "single"
    CLUSTER = "cluster"


CONSUMER_SERVICES: tuple[str, ...] = ("profiles", "notifications")
DEFAULT_PER_USER_BOUND = 100_000  # users each per-user structure of a consumer holds at most
CLUSTER_SCHEME = "valkey+cluster"  # a VALKEY_URL with this scheme names a Valkey Cluster


def default_publish(mode: Mode) -> Publish:
    """The publishing default for a mode: outbox for hybrid, direct otherwise."""
    return Publish.OUTBOX if mode is Mode.HYBRID else Publish.DIRECT


def publish_label(mode: Mode, publish: Publish | None) -> str:
    """What auth publishes in a mode, as every command and page names it: none in lazy mode."""
    if mode.transport is None:
        return "none"
    return (publish or default_publish(mode)).value


class Settings(BaseSettings):
    """Every LAB_* setting, database URL and port in one place."""

    model_config = SettingsConfigDict(env_prefix="", extra="ignore", case_sensitive=False)

    lab_mode: Mode = Mode.LAZY
    lab_publish: Publish | None = None
    lab_state_dir: Path = Path(".state")
    lab_reports_dir: Path = Path("reports")  # benchmark reports, under the current directory
    valkey_url: str = ""
    valkey_port: int = 6390
    lab_valkey: Topology = Topology.SINGLE
    lab_cluster_node_timeout: int = Field(default=1000, ge=100)  # ms before a failover starts
    lab_stream_wait_replicas: int = Field(default=0, ge=0)
    lab_stream_wait_timeout: int = Field(default=1000, ge=1)  # ms one WAIT may block
    # seconds of sent outbox rows to send again when publishing starts failing; 0: off
    lab_outbox_resend_window: float = Field(default=0.0, ge=0)
    valkey_appendfsync: str = Field(default="everysec", pattern="^(always|everysec|no)$")
    valkey_pubsub_buffer_limit: str = ""
    auth_database_url: str = ""
    profiles_database_url: str = ""
    notifications_database_url: str = ""
    # empty: the gateway's address + /auth, so the issuer follows a moved gateway
    lab_issuer: str = ""
    lab_audience: str = "discovery-lab"
    lab_client_id: str = "discovery-lab-cli"
    lab_token_ttl: int = Field(default=900, ge=1)
    lab_jwt_alg: JwtAlg = JwtAlg.RS256
    # Attributes packed into tokens at login (names, not secrets).
    lab_token_claims: str = "display_name,plan"  # noqa: S105
    lab_token_encrypt: bool = False
    # The token encryption key pair (PEM); empty: <state>/keys/token-encryption.pem.
    lab_token_encryption_key: str = ""
    lab_internal_token: str = ""
    # The gateway's key for proving the client address it forwards to auth; empty: generated
    # into <state>/gateway-proxy-key.
    lab_gateway_proxy_key: str = ""
    # Proxies in front of the gateway whose X-Forwarded-For is believed (comma-separated
    # addresses or networks); empty: none, the socket's peer is the client.
    lab_trusted_proxies: str = ""
    # Seconds of clock skew allowed on a token's iat, nbf and exp.
    lab_clock_leeway: int = Field(default=30, ge=0, le=60)
    # Host names the dashboard and every /internal/* route answer for, beyond loopback, the bind
    # host and the hosts other processes reach them by (comma-separated); empty: none.
    lab_allowed_hosts: str = ""
    lab_stream_maxlen: int = Field(default=100_000, ge=1)
    lab_dead_letter_after: int = Field(default=5, ge=1)
    # stream entries a consumer reads with one XREADGROUP, applies in one transaction and acks
    # with one XACK
    lab_stream_batch: int = Field(default=500, ge=1)
    # child processes that check the signatures of a large stream batch while the consumer
    # applies the one before; 0: every check in the consumer's own process
    lab_verify_processes: int = Field(default=1, ge=0)
    lab_fault_crash_after_commit: bool = False
    lab_argon2_time_cost: int = Field(default=3, ge=1)
    lab_argon2_memory_kib: int = Field(default=65536, ge=64)
    lab_argon2_parallelism: int = Field(default=4, ge=1, le=16)
    lab_hash_workers: int = Field(default=0, ge=0)  # 0: one per CPU
    lab_hash_queue: int = Field(default=256, ge=0)
    lab_login_account_allowance: int = Field(default=5, ge=1)
    lab_login_account_wide_allowance: int = Field(default=50, ge=1)
    lab_login_address_allowance: int = Field(default=30, ge=1)
    lab_login_backoff_cap: float = Field(default=60.0, gt=0)
    lab_login_window: float = Field(default=900.0, gt=0)
    # taken-name answers to registrations one address gets before the backoff (same cap and window)
    lab_register_taken_allowance: int = Field(default=20, ge=1)
    lab_jwks_cache_ttl: float = Field(default=60.0, gt=0)
    lab_known_cache_ttl: float = Field(default=1.0, ge=0)
    # Bounds of a consumer's per-user structures (consumers.discovery.base.KnownCache says what
    # happens at each bound) and of its cache of verified tokens (common.tokens.Verifier).
    lab_known_cache_size: int = Field(default=DEFAULT_PER_USER_BOUND, ge=0)
    lab_seen_users_size: int = Field(default=DEFAULT_PER_USER_BOUND, ge=0)
    lab_blocked_users_size: int = Field(default=DEFAULT_PER_USER_BOUND, ge=0)
    lab_token_cache_size: int = Field(default=10_000, ge=0)
    lab_outbox_poll_interval: float = Field(default=0.5, gt=0)
    lab_host: str = "127.0.0.1"  # the host in the default URLs between processes
    lab_bind_host: str = "127.0.0.1"  # where each process listens (0.0.0.0 in containers)
    # How other processes reach a service; empty: http://LAB_HOST:<its port>. Each takes a
    # comma-separated list, one base URL per replica.
    lab_auth_url: str = ""
    lab_profiles_url: str = ""
    lab_notifications_url: str = ""
    lab_gateway_port: int = 8000
    lab_auth_port: int = 8001
    lab_profiles_port: int = 8101
    lab_notifications_port: int = 8102
    lab_dashboard_port: int = 8080
    # Each process's JSON log (access and application lines) moves aside at this size, keeping
    # this many older files; LAB_ACCESS_LOG=false writes no access lines.
    lab_log_max_bytes: int = Field(default=10_000_000, ge=1000)
    lab_log_backups: int = Field(default=3, ge=0)
    lab_access_log: bool = True
    lab_service_name: str = ""
    lab_replica_name: str = ""
    lab_replicas: int = Field(default=1, ge=1, le=9)
    # auth processes behind the gateway; more than one needs PostgreSQL (shared rows, row locks)
    lab_auth_replicas: int = Field(default=1, ge=1, le=9)

    @model_validator(mode="after")
    def _fill_publish(self) -> Settings:
        if self.lab_publish is None:
            self.lab_publish = default_publish(self.lab_mode)
        return self

    @model_validator(mode="after")
    def _fill_issuer(self) -> Settings:
        if not self.lab_issuer:
            self.lab_issuer = f"http://{self.lab_host}:{self.lab_gateway_port}/auth"
        return self

    @field_validator("lab_token_claims")
    @classmethod
    def _known_claims(cls, value: str) -> str:
        parse_names(value)
        return value

    @field_validator("lab_trusted_proxies")
    @classmethod
    def _known_proxies(cls, value: str) -> str:
        parse_networks(value)
        return value

    @property
    def trusted_proxies(self) -> tuple[Network, ...]:
        """The networks of LAB_TRUSTED_PROXIES."""
        return parse_networks(self.lab_trusted_proxies)

    @property
    def token_claims(self) -> tuple[str, ...]:
        """The attribute names login packs into a token, in the order given."""
        return parse_names(self.lab_token_claims)

    @property
    def mode(self) -> Mode:
        return self.lab_mode

    @property
    def publish(self) -> Publish:
        return self.lab_publish or default_publish(self.lab_mode)

    @property
    def publish_label(self) -> str:
        return publish_label(self.lab_mode, self.lab_publish)

    @property
    def state_dir(self) -> Path:
        return self.lab_state_dir.resolve()

    @property
    def reports_dir(self) -> Path:
        return self.lab_reports_dir.resolve()

    @property
    def keys_dir(self) -> Path:
        return self.state_dir / "keys"

    @property
    def token_encryption_key_path(self) -> Path:
        """Where the token encryption key pair is: a compose secret, or beside the signing keys."""
        if self.lab_token_encryption_key:
            return Path(self.lab_token_encryption_key)
        return self.keys_dir / "token-encryption.pem"

    @property
    def effective_valkey_url(self) -> str:
        """The admin user's URL: for the CLI, the benchmark and fault injection."""
        return self.valkey_url_as("admin")

    @property
    def valkey_cluster(self) -> bool:
        """True when every process talks to a Valkey Cluster, embedded or external."""
        if self.valkey_url:
            return self.valkey_url.startswith(f"{CLUSTER_SCHEME}://")
        return self.lab_valkey is Topology.CLUSTER

    def valkey_url_as(self, user: str) -> str:
        """How a Valkey ACL user connects: to the embedded Valkey with the password generated
        into the state dir; an external VALKEY_URL is used as given, credentials and all."""
        if self.valkey_url:
            return self.valkey_url
        if self.lab_valkey is Topology.CLUSTER:
            password = self.valkey_password(user)
            return f"{CLUSTER_SCHEME}://{user}:{password}@{self.lab_host}:{self.valkey_port}"
        return self.valkey_node_url(user, self.valkey_port)

    def valkey_node_url(self, user: str, port: int) -> str:
        """One embedded Valkey node, as a user of it."""
        password = self.valkey_password(user)
        return f"redis://{user}:{password}@{self.lab_host}:{port}/0"

    def valkey_password(self, user: str) -> str:
        """A Valkey user's password, generated into <state>/valkey-USER-password."""
        return self.secret(f"valkey-{user}-password")

    @property
    def key_publish_lead(self) -> float:
        """Seconds a new signing key is published before it signs: by then every verifier's
        JWKS cache (LAB_JWKS_CACHE_TTL) has been refreshed, with a second to spare."""
        return self.lab_jwks_cache_ttl + 1.0

    @property
    def auth_url(self) -> str:
        """The first auth process."""
        return self.auth_urls[0]

    @property
    def auth_urls(self) -> list[str]:
        """Base URLs of the auth processes, as the gateway reaches them."""
        if self.lab_auth_url:
            return [url.strip().rstrip("/") for url in self.lab_auth_url.split(",") if url.strip()]
        return [
            f"http://{self.lab_host}:{self.service_port('auth', k)}"
            for k in range(1, self.lab_auth_replicas + 1)
        ]

    def consumer_urls(self, service: str) -> list[str]:
        """Base URLs of a consumer's replicas, as the gateway reaches them."""
        explicit = {
            "profiles": self.lab_profiles_url,
            "notifications": self.lab_notifications_url,
        }[service]
        if explicit:
            return [url.strip().rstrip("/") for url in explicit.split(",") if url.strip()]
        return [
            f"http://{self.lab_host}:{self.service_port(service, k)}"
            for k in range(1, self.lab_replicas + 1)
        ]

    @property
    def jwks_urls(self) -> list[str]:
        """Where consumers fetch the JWKS: every auth process serves the same one."""
        return [f"{url}/.well-known/jwks.json" for url in self.auth_urls]

    def database_url(self, service: str) -> str:
        """The database URL for a service, defaulting to a SQLite file in the state dir."""
        explicit: str = getattr(self, f"{service}_database_url", "") or ""
        if explicit:
            return explicit
        return f"sqlite:///{self.state_dir / 'db' / f'{service}.sqlite3'}"

    def service_port(self, service: str, replica: int = 1) -> int:
        """The port of a service's replica k: the base port + 10·(k−1)."""
        base: int = getattr(self, f"lab_{service}_port")
        return base + 10 * (replica - 1)

    def internal_token(self) -> str:
        """The secret for /internal/*, generated into the state dir on first use."""
        return self.lab_internal_token or self.secret("internal-token")

    def gateway_proxy_key(self) -> bytes:
        """The key the gateway signs forwarded addresses with (auth checks them), generated into
        the state dir on first use; it opens nothing else."""
        return (self.lab_gateway_proxy_key or self.secret("gateway-proxy-key")).encode()

    def secret(self, name: str) -> str:
        """A random secret in the state dir (mode 0600), generated on first use."""
        path = self.state_dir / name
        if not path.exists():
            write_private(path, secrets.token_urlsafe(32), replace=False)
        return path.read_text().strip()


def write_private(path: Path, text: str, *, replace: bool = True) -> None:
    """Write a file only its owner can read, atomically: readers never see it half-written.
    With replace=False an existing file wins (processes racing to create it agree on one)."""
    make_private_dirs(path.parent)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    try:
        if replace:
            os.replace(tmp, path)
        else:
            with contextlib.suppress(FileExistsError):
                os.link(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def replica_name(service: str, replica: int) -> str:
    """Replica k of a service is `service-k`; the first keeps the plain name."""
    return service if replica == 1 else f"{service}-{replica}"


def port_setting(process: str) -> str:
    """The environment variable that moves a process's port (a replica's follows its service's)."""
    if process == "valkey":
        return "VALKEY_PORT"
    return f"LAB_{parse_replica(process)[0].upper()}_PORT"


def parse_replica(name: str) -> tuple[str, int]:
    """Split `profiles-2` into (`profiles`, 2) and `profiles` into (`profiles`, 1)."""
    base, _, num = name.rpartition("-")
    if base and num.isdigit():
        return base, int(num)
    return name, 1
