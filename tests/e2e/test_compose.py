"""docker-compose.yml and the Dockerfile, checked from the files (no Docker engine runs here), and
each service run once the way its container runs it."""

from __future__ import annotations

import asyncio
import os
import re
import shlex
import stat
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import psutil
import pytest
import valkey
import yaml

from common.settings import CONSUMER_SERVICES, Settings
from events import acl
from lab.compose import password_variable, read_env
from lab.net import free_port
from lab.serve import build_app, process_port
from lab.valkey_server import server_binary
from tests.support import ValkeyProc, wait_for

ROOT = Path(__file__).resolve().parents[2]
PROCESSES = ("auth", *CONSUMER_SERVICES, "gateway")
CONTAINERS = (*PROCESSES, "dashboard")  # every service of ours, as `up` starts them
TOKEN = "compose-test-internal-token"
PROXY_KEY = "compose-test-gateway-proxy-key"
PASSWORDS = {password_variable(user): f"compose-test-{user}-password" for user in acl.users()}
HOST_ENV = {"LAB_INTERNAL_TOKEN": TOKEN, "LAB_GATEWAY_PROXY_KEY": PROXY_KEY, **PASSWORDS}
VALKEY_USER = {"auth": "auth", **{c: c for c in CONSUMER_SERVICES}}  # the gateway needs none
VAR = re.compile(r"\$\{(\w+)(?::([-?])([^}]*))?\}")


def _spec() -> dict[str, Any]:
    return dict(yaml.safe_load((ROOT / "docker-compose.yml").read_text()))


def _interpolate(value: str, env: dict[str, str]) -> str:
    def one(m: re.Match[str]) -> str:
        name, op, arg = m.group(1), m.group(2), m.group(3)
        if env.get(name):
            return env[name]
        if op == "?":
            raise KeyError(f"{name}: {arg}")
        return arg or ""

    return VAR.sub(one, value)


def _environment(service: dict[str, Any], host_env: dict[str, str]) -> dict[str, str]:
    return {k: _interpolate(str(v), host_env) for k, v in service["environment"].items()}


def _settings(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Settings:
    for key in list(os.environ):
        if key.startswith(("LAB_", "VALKEY_")) or key.endswith("_DATABASE_URL"):
            monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return Settings()


def _acl_target(service: dict[str, Any]) -> str:
    """Where a Valkey service gets the ACL file: the one config it mounts."""
    (config,) = service["configs"]
    assert config["source"] == "valkey_acl"
    return str(config["target"])


def _published(service: dict[str, Any]) -> set[int]:
    return {int(str(p).rsplit(":", 1)[1]) for p in service.get("ports", [])}


def test_compose_is_valid_against_the_compose_specification() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "check_jsonschema",
            "--builtin-schema",
            "vendor.compose-spec",
            str(ROOT / "docker-compose.yml"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _default_services() -> dict[str, Any]:
    """The services that run without a profile."""
    return {k: v for k, v in _spec()["services"].items() if not v.get("profiles")}


def test_compose_runs_the_same_processes_as_up() -> None:
    services = _default_services()
    assert set(services) == {"valkey", *PROCESSES, "dashboard"}
    for name in (*PROCESSES, "dashboard"):
        assert services[name]["command"] == ["python", "-m", "lab.serve", name]


def test_every_service_is_health_checked_and_waits_for_healthy_dependencies() -> None:
    services = _spec()["services"]
    for name, service in services.items():
        check = service["healthcheck"]["test"]
        assert check[0] == "CMD"
        if name in PROCESSES:
            assert check[1:] == ["python", "-m", "lab.serve", "--check", name]
        for target, rule in service.get("depends_on", {}).items():
            assert target in services and target != name
            if "cluster" in services[target].get("profiles", []) and not service.get("profiles"):
                # a profile's one-shot set-up: waited for only when the profile runs
                assert rule == {"condition": "service_completed_successfully", "required": False}
            else:
                assert rule == {"condition": "service_healthy"}
    assert set(services["gateway"]["depends_on"]) >= {"auth", *CONSUMER_SERVICES}


def test_internal_token_must_come_from_the_host() -> None:
    services = _spec()["services"]
    without = {k: v for k, v in HOST_ENV.items() if k != "LAB_INTERNAL_TOKEN"}
    for name in ("auth", *CONSUMER_SERVICES, "dashboard"):
        with pytest.raises(KeyError, match="LAB_INTERNAL_TOKEN"):
            _environment(services[name], without)


def test_the_gateway_gets_its_proxy_key_and_never_the_internal_token() -> None:
    services = _spec()["services"]
    without = {k: v for k, v in HOST_ENV.items() if k != "LAB_GATEWAY_PROXY_KEY"}
    for name in ("auth", "gateway"):
        with pytest.raises(KeyError, match="LAB_GATEWAY_PROXY_KEY"):
            _environment(services[name], without)
    env = {name: _environment(services[name], HOST_ENV) for name in (*PROCESSES, "dashboard")}
    assert "LAB_GATEWAY_PROXY_KEY" not in env["dashboard"]
    assert "LAB_INTERNAL_TOKEN" not in env["gateway"]
    assert env["gateway"]["LAB_GATEWAY_PROXY_KEY"] == env["auth"]["LAB_GATEWAY_PROXY_KEY"]
    for name in ("auth", *CONSUMER_SERVICES):
        assert env[name]["LAB_INTERNAL_TOKEN"] == TOKEN, name
    for name in CONSUMER_SERVICES:
        assert "LAB_GATEWAY_PROXY_KEY" not in env[name], name


def test_each_service_listens_where_the_others_reach_it(monkeypatch: pytest.MonkeyPatch) -> None:
    services = _spec()["services"]
    command = services["valkey"]["command"]
    valkey_port = int(command[command.index("--port") + 1])
    settings = {
        name: _settings(_environment(services[name], HOST_ENV), monkeypatch) for name in PROCESSES
    }
    listens = {name: process_port(name, settings[name]) for name in PROCESSES}
    listens["valkey"] = valkey_port
    for name, s in settings.items():
        assert s.lab_bind_host not in ("127.0.0.1", "localhost", "::1"), name
        assert s.state_dir == Path("/state")
        assert _published(services[name]) == {listens[name]}, name
        reached = [s.auth_url, *(u for c in CONSUMER_SERVICES for u in s.consumer_urls(c))]
        if name in VALKEY_USER:  # each as its own ACL user, with its own password
            assert urlsplit(s.valkey_url).username == VALKEY_USER[name], name
            assert urlsplit(s.valkey_url).password == PASSWORDS[password_variable(name)]
            reached.append(s.valkey_url)
        else:
            assert not s.valkey_url, f"{name} needs no Valkey, so it gets no credentials"
        for url in reached:
            host, port = urlsplit(url).hostname or "", urlsplit(url).port
            assert host in services, f"{name}: {url} names no compose service"
            assert port == listens[host], f"{name}: {url}"


def test_internal_routes_answer_by_compose_name_and_published_address(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each service's /internal/* answers for its compose name and for 127.0.0.1 (where its port
    is published), and refuses another host name (the app itself, in process, without I/O)."""
    services = _spec()["services"]
    for name in ("auth", *CONSUMER_SERVICES):
        settings = _settings(_environment(services[name], HOST_ENV), monkeypatch)
        app, port = build_app(name, settings)

        async def status(host: str, app: Any = app) -> int:
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url=f"http://{host}") as c:
                return (await c.get("/internal/no-such-route")).status_code

        for host in (f"{name}:{port}", f"127.0.0.1:{port}", f"localhost:{port}"):
            assert asyncio.run(status(host)) == 404, (name, host)  # past the host check
        assert asyncio.run(status("evil.example")) == 421, name


def test_the_cluster_profile_runs_three_primaries_with_a_replica_each(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    services = _spec()["services"]
    nodes = sorted(n for n, s in services.items() if n.startswith("valkey-node-"))
    assert len(nodes) == 6
    for name in nodes:
        assert services[name]["command"][:2] == ["sh", "-c"]  # the password from the environment
        command = shlex.split(services[name]["command"][2])
        assert command[command.index("--masteruser") + 1] == "admin"
        assert command[command.index("--aclfile") + 1] == _acl_target(services[name])
        assert services[name]["profiles"] == ["cluster"]
        assert command[command.index("--cluster-enabled") + 1] == "yes"
    init = services["valkey-cluster-init"]
    assert set(init["depends_on"]) == set(nodes)
    script = " ".join(init["command"])
    assert "--cluster-replicas 1" in script
    assert all(f"{n}:6390" in script for n in nodes)
    host_env = HOST_ENV | {"VALKEY_SCHEME": "valkey+cluster", "VALKEY_HOST": "valkey-node-1"}
    for name in VALKEY_USER:
        s = _settings(_environment(services[name], host_env), monkeypatch)
        assert s.valkey_cluster, name
        assert urlsplit(s.effective_valkey_url).hostname in nodes


def test_signing_keys_stay_with_auth() -> None:
    services = _spec()["services"]
    (auth_volume,) = (v.split(":")[0] for v in services["auth"]["volumes"])
    for name, service in services.items():
        if name != "auth":
            assert all(v.split(":")[0] != auth_volume for v in service.get("volumes", [])), name


def test_the_image_runs_unprivileged_with_its_dependencies_cached_and_no_secret() -> None:
    lines = [
        line.strip()
        for line in (ROOT / "Dockerfile").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    user = [line for line in lines if line.startswith("USER ")]
    assert user and user[-1].split()[1] not in ("root", "0")
    first_code = next(i for i, line in enumerate(lines) if line.startswith("COPY auth"))
    install = next(i for i, line in enumerate(lines) if "pip install" in line)
    assert install < first_code  # the dependency layer does not change with the code
    assert not [line for line in lines if line.startswith(("ENV", "ARG")) and "TOKEN" in line]
    for package in ("auth", "consumers", "events", "gateway", "common"):
        assert (ROOT / package).is_dir()
        assert f"COPY {package} {package}" in lines
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".git", ".state", ".venv", "reports"} <= set(ignored)


@pytest.fixture
def container_like(tmp_path: Path, valkey_proc: ValkeyProc) -> Iterator[dict[str, dict[str, str]]]:
    """Each process started as its container starts it: settings only from the environment,
    listening on 0.0.0.0, reached through 127.0.0.1."""
    services = _spec()["services"]
    ports = {name: free_port() for name in CONTAINERS}
    base = {"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT)}
    procs: list[subprocess.Popen[bytes]] = []
    env_of: dict[str, dict[str, str]] = {}
    for name in CONTAINERS:
        env = base | _environment(services[name], HOST_ENV)  # secrets only as compose hands them
        if env.get("LAB_HOST") == "gateway":  # the dashboard reaches the gateway by its name
            env["LAB_HOST"] = "127.0.0.1"
        env |= {
            "LAB_STATE_DIR": str(tmp_path / name),
            "LAB_ISSUER": f"http://127.0.0.1:{ports['gateway']}/auth",
            "LAB_AUTH_URL": f"http://127.0.0.1:{ports['auth']}",
            "VALKEY_URL": valkey_proc.url,
            "LAB_AUTH_PORT": str(ports["auth"]),
            "LAB_GATEWAY_PORT": str(ports["gateway"]),
            "LAB_DASHBOARD_PORT": str(ports["dashboard"]),
        }
        for consumer in CONSUMER_SERVICES:
            env[f"LAB_{consumer.upper()}_PORT"] = str(ports[consumer])
            env[f"LAB_{consumer.upper()}_URL"] = f"http://127.0.0.1:{ports[consumer]}"
        env_of[name] = env
        log = (tmp_path / f"{name}.log").open("wb")
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "lab.serve", name],
                cwd=tmp_path,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
    try:
        for name in CONTAINERS:
            wait_for(
                lambda name=name: (
                    httpx.get(f"http://127.0.0.1:{ports[name]}/health").status_code == 200
                ),
                timeout=90,
                what=f"{name} to answer on 127.0.0.1 while bound to 0.0.0.0",
            )
        yield env_of
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=15)


def test_each_service_runs_the_way_its_container_runs_it(
    container_like: dict[str, dict[str, str]], tmp_path: Path
) -> None:
    for name, env in container_like.items():  # the container's health check command agrees
        check = subprocess.run(
            [sys.executable, "-m", "lab.serve", "--check", name],
            env=env,
            cwd=tmp_path,
            timeout=30,
        )
        assert check.returncode == 0, name
    listening = {
        c.laddr.port: c.laddr.ip for c in psutil.net_connections("tcp") if c.status == "LISTEN"
    }
    for name, env in container_like.items():
        assert listening.get(int(env[f"LAB_{name.upper()}_PORT"])) == "0.0.0.0", name
    gateway = f"http://127.0.0.1:{container_like['gateway']['LAB_GATEWAY_PORT']}"
    creds = {"username": "compose-user", "password": "correct horse battery"}
    assert httpx.post(f"{gateway}/auth/register", json=creds, timeout=30).status_code == 201
    login = httpx.post(f"{gateway}/auth/login", json=creds, timeout=30)
    token = login.json()["token"]
    for service in CONSUMER_SERVICES:
        r = httpx.get(
            f"{gateway}/{service}/whoami", headers={"Authorization": f"Bearer {token}"}, timeout=30
        )
        assert r.status_code == 200 and r.json()["discovered_by"] == "lazy", r.text
    dashboard = f"http://127.0.0.1:{container_like['dashboard']['LAB_DASHBOARD_PORT']}"
    assert "<html" in httpx.get(f"{dashboard}/", timeout=30).text.lower()
    r = httpx.get(  # the page's calls reach the gateway through the dashboard
        f"{dashboard}/gateway/profiles/whoami",
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert r.status_code == 200 and r.json()["first_call"] is False, r.text


def test_the_token_encryption_key_is_a_secret_of_the_services_that_read_tokens() -> None:
    spec = _spec()
    assert set(spec["secrets"]) == {"token_encryption_key"}
    services = spec["services"]
    for name in ("auth", *CONSUMER_SERVICES):
        assert services[name]["secrets"] == ["token_encryption_key"], name
        env = _environment(services[name], HOST_ENV)
        assert env["LAB_TOKEN_ENCRYPTION_KEY"] == "/run/secrets/token_encryption_key"
    assert "secrets" not in services["gateway"] and "secrets" not in services["valkey"]


def _packages() -> tuple[set[str], set[str]]:
    """The top-level packages and modules that pyproject.toml installs."""
    tool = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    include = tool["packages"]["find"]["include"]
    return {p.rstrip("*") for p in include}, {f"{m}.py" for m in tool["py-modules"]}


def test_the_image_copies_every_package_that_pyproject_installs() -> None:
    copies = [
        line.split()[1:]
        for line in (ROOT / "Dockerfile").read_text().splitlines()
        if line.startswith("COPY ")
    ]
    copied_dirs = {src[0] for src in copies if len(src) == 2 and src[0] == src[1]}
    copied_files = {f for src in copies if src[-1] == "./" for f in src[:-1]}
    packages, modules = _packages()
    assert packages == copied_dirs - {"."}, "the Dockerfile's COPY lines and pyproject differ"
    assert modules <= copied_files
    assert {"dashboard", "demo", "lab"} <= copied_dirs  # what `up`, the dashboard and demo need
    ignored = set((ROOT / ".dockerignore").read_text().split())
    assert not (packages | modules) & ignored
    assert {".env", "secrets"} <= ignored  # no secret goes into the image


def test_valkey_and_its_cluster_read_the_acl_file_that_compose_secrets_writes() -> None:
    spec = _spec()
    assert spec["configs"]["valkey_acl"]["file"] == "./secrets/valkey-users.acl"
    single = spec["services"]["valkey"]
    command = single["command"]
    assert command[command.index("--aclfile") + 1] == _acl_target(single)
    for name, service in spec["services"].items():
        check = service["healthcheck"]["test"]
        if "valkey-cli" in check:  # the default user is off: the checks log in as admin
            assert check[check.index("--user") + 1] == "admin", name
            env = _environment(service, HOST_ENV)
            assert env["REDISCLI_AUTH"] == PASSWORDS[password_variable("admin")], name


def _readme_compose_steps() -> list[str]:
    """The README's compose command, split into its steps: `A && docker compose up -d`."""
    readme = (ROOT / "README.md").read_text()
    (line,) = [line for line in readme.splitlines() if "docker compose up" in line]
    steps = [step.strip() for step in line.split("#")[0].split("&&")]
    assert steps[-1].startswith("docker compose up")
    return steps


@pytest.fixture(scope="module")
def fresh_clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A `git clone` of this repository with the README's compose command followed in it, up
    to `docker compose up` (no Docker engine runs here: the test checks what it would read)."""
    clone = tmp_path_factory.mktemp("clone") / "discovery-lab"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True, timeout=120)
    program = Path(sys.executable).parent
    for step in _readme_compose_steps()[:-1]:
        argv = shlex.split(step)
        if Path(argv[0]).name == "discovery-lab":  # this checkout's install
            argv[0] = str(program / "discovery-lab")
        result = subprocess.run(argv, cwd=clone, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stdout + result.stderr
    return clone


def test_the_readmes_compose_command_leaves_every_mounted_file_and_secret_in_place(
    fresh_clone: Path,
) -> None:
    spec = dict(yaml.safe_load((fresh_clone / "docker-compose.yml").read_text()))
    env = read_env(fresh_clone / ".env")
    assert stat.S_IMODE((fresh_clone / ".env").stat().st_mode) == 0o600
    for name, service in spec["services"].items():
        _environment(service, env) if "environment" in service else None  # no `:?` unmet
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith((".", "/")):
                assert (fresh_clone / source).exists(), f"{name} mounts {source}"
            else:  # a named volume: the stack makes it
                assert source in spec["volumes"], f"{name}: volume {source} is not declared"
        for secret in service.get("secrets", []):
            path = fresh_clone / _interpolate(spec["secrets"][secret]["file"], env)
            assert path.is_file(), f"{name}: secret {secret} at {path}"
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
            owner = path.stat().st_uid
            assert owner in (int(env["LAB_UID"]), os.getuid()), "unreadable in the container"
        for config in service.get("configs", []):
            assert (fresh_clone / spec["configs"][config["source"]]["file"]).is_file(), name
    for line in (fresh_clone / "Dockerfile").read_text().splitlines():
        if line.startswith("COPY "):  # the build context holds what the image copies
            for source in line.split()[1:-1]:
                assert (fresh_clone / source).exists(), line


def _can(url: str, *command: str) -> bool:
    """True if the user in url may run the command (NOPERM or NOAUTH: False)."""
    client = valkey.Valkey.from_url(url, socket_connect_timeout=2)
    try:
        client.execute_command(*command)
    except (valkey.exceptions.NoPermissionError, valkey.exceptions.AuthenticationError):
        return False
    except valkey.exceptions.ResponseError as exc:
        return "NOPERM" not in str(exc) and "NOAUTH" not in str(exc)
    finally:
        client.close()
    return True


def test_the_compose_valkey_holds_the_embedded_stacks_acl_users(
    fresh_clone: Path, tmp_path: Path
) -> None:
    """valkey-server started with the ACL file the README's command wrote, reached with the
    URLs compose hands each service."""
    spec = _spec()
    env = read_env(fresh_clone / ".env")
    port = free_port()
    data = tmp_path / "valkey"
    data.mkdir()
    log = (tmp_path / "valkey.log").open("wb")
    acl_file = fresh_clone / spec["configs"]["valkey_acl"]["file"]
    server = subprocess.Popen(
        [
            str(server_binary()),
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(data),
            "--save",
            "",
            "--aclfile",
            str(acl_file),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:

        def url_of(name: str) -> str:
            url = _environment(spec["services"][name], env)["VALKEY_URL"]
            return url.replace("@valkey:6390", f"@127.0.0.1:{port}")

        admin = f"redis://admin:{env[password_variable('admin')]}@127.0.0.1:{port}"
        wait_for(lambda: _can(admin, "PING"), timeout=10, what="valkey-server as admin")
        assert not _can(f"redis://127.0.0.1:{port}", "PING")  # default is off
        assert _can(url_of("auth"), "PUBLISH", "users.events", "x")
        assert not _can(url_of("auth"), "GET", "anything")
        for consumer in CONSUMER_SERVICES:
            assert not _can(url_of(consumer), "PUBLISH", "users.events", "x"), consumer
            assert _can(url_of(consumer), "XRANGE", "users.events.stream", "-", "+"), consumer
        users = set(
            valkey.Valkey.from_url(admin, decode_responses=True).execute_command("ACL", "USERS")
        )
        assert users == {"default", *acl.users()}
    finally:
        server.terminate()
        server.wait(timeout=15)
