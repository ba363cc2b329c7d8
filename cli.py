"""discovery-lab command line: start the stack, drive it, switch modes, inject faults."""

from __future__ import annotations

import contextlib
import dataclasses
import getpass
import json
import os
import signal
import subprocess
import sys
import time
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, NoReturn

import httpx
import typer
from rich import box
from rich.console import Console
from rich.table import Table
from valkey.exceptions import ValkeyClusterException, ValkeyError

from bench.part import DEFAULT_PARTS, EXTRAS, choose, require_report_deps
from common import sealed
from common.settings import CONSUMER_SERVICES, Mode, Publish, Settings, Topology
from common.statefiles import UMASK
from lab import recorded
from lab.client import PROG, ClientError, LabClient, Reply, TokenStore
from lab.processes import Stack, StackError

app = typer.Typer(help=__doc__, no_args_is_help=True)
keys_app = typer.Typer(help="Signing keys: rotate, revoke, list.", no_args_is_help=True)
events_app = typer.Typer(help="Watch events as they flow.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
app.add_typer(events_app, name="events")
console = Console() if sys.stdout.isatty() else Console(width=120)
err = Console(stderr=True, soft_wrap=True)

SERVICES = ("auth", *CONSUMER_SERVICES)
PROCESS_HELP = (
    "valkey, auth, gateway or a consumer (profiles, notifications; replica k of a consumer "
    "is profiles-k)"
)
USERNAME_HELP = "3–64 characters, unique regardless of case"
FROM_STDIN = "-"
PASSWORDS_HELP = (
    "8–1024 characters; `-` reads one line from stdin; prompted for if omitted "
    "(read from stdin when there is no terminal)"
)
JSON_HELP = "print JSON on stdout (notices go to stderr)"
# Per-process settings that `up` sets itself for each process it starts.
_SET_PER_PROCESS = {"lab_service_name", "lab_replica_name"}
UP_EPILOG = (
    "Reads these environment variables (defaults in common/settings.py): "
    + ", ".join(name.upper() for name in Settings.model_fields if name not in _SET_PER_PROCESS)
    + ". Records in <state>/stack.json the mode and those that identify the stack, from a flag "
    "or the environment: "
    + ", ".join(name.upper() for name in recorded.IDENTIFYING)
    + ". Every later command uses the recorded ones; one given again that disagrees is an error."
)


class Db(StrEnum):
    """Where the services keep their databases."""

    SQLITE = "sqlite"
    POSTGRES = "postgres"


def fail(message: str) -> NoReturn:
    """Print a one-line reason and exit non-zero."""
    err.print(f"[red]error:[/red] {message}", highlight=False)
    raise typer.Exit(1)


def print_json(data: Any) -> None:
    """Data for scripts: JSON on stdout."""
    print(json.dumps(data, indent=2, default=str))


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(PROG)
    except PackageNotFoundError:  # a checkout that was never installed
        import tomllib

        pyproject = Path(__file__).with_name("pyproject.toml")
        return str(tomllib.loads(pyproject.read_text())["project"]["version"])


def _print_version(value: bool) -> None:
    if value:
        print(f"{PROG} {_version()}")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[
        bool,
        typer.Option(
            "--version", help="print the version and exit", is_eager=True, callback=_print_version
        ),
    ] = False,
) -> None:
    pass


def _stack() -> Stack:
    """The stack of the state dir, with its recorded settings; a disagreeing one given ends here."""
    stack = Stack.load()
    try:
        stack.check_given(os.environ)
    except StackError as exc:
        fail(str(exc))
    return stack


def _client(stack: Stack) -> LabClient:
    return stack.client()


def _password(password: str | None, confirm: bool = False) -> str:
    if password and password != FROM_STDIN:
        return password
    if password == FROM_STDIN or not sys.stdin.isatty():
        line = sys.stdin.readline().rstrip("\n")
        if line:
            return line
        fail("no password on stdin: pass --password, or type it at the prompt")
    entered = getpass.getpass("Password: ")
    if confirm and getpass.getpass("Repeat password: ") != entered:
        fail("the passwords do not match")
    return entered


def _show(reply: Reply, as_json: bool) -> None:
    """Print a reply; a 4xx or 5xx one ends the command with exit code 1."""
    if as_json:
        print_json({"status": reply.status, "body": reply.body})
    else:
        body = reply.body
        text = json.dumps(body, indent=2) if not isinstance(body, str) else body
        style = "green" if reply.status < 400 else "red"
        console.print(f"[{style}]{reply.status}[/{style}] {text}", highlight=False)
    if reply.status >= 400:
        raise typer.Exit(1)


def _service(value: str) -> str:
    if value not in SERVICES:
        raise typer.BadParameter(f"{value!r} is not one of {', '.join(SERVICES)}")
    return value


@app.command(epilog=UP_EPILOG)
def up(
    mode: Annotated[Mode | None, typer.Option(help="discovery mode (default: LAB_MODE)")] = None,
    publish: Annotated[
        Publish | None,
        typer.Option(help="auth-side publishing (default: LAB_PUBLISH, else the mode's)"),
    ] = None,
    db: Annotated[
        Db | None,
        typer.Option(
            help="SQLite files in the state dir (default), or PostgreSQL on 127.0.0.1:5432"
        ),
    ] = None,
    replicas: Annotated[
        int | None, typer.Option(min=1, max=9, help="replicas per consumer (default: 1)")
    ] = None,
    auth_replicas: Annotated[
        int | None,
        typer.Option(
            min=1, max=9, help="auth processes behind the gateway, PostgreSQL only (default: 1)"
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help=JSON_HELP)] = False,
    valkey: Annotated[
        Topology | None,
        typer.Option(help="embedded Valkey: one node (default), or a 3+3 node cluster"),
    ] = None,
) -> None:
    """Start valkey, auth, the consumers and the gateway; return once all are healthy.

    On a running stack, only --mode and --publish change anything; any other setting given must
    match the one it runs with.
    """
    stack = Stack.load()
    flags = {
        key: value
        for key, value in (
            ("LAB_VALKEY", valkey.value if valkey else None),
            ("LAB_REPLICAS", None if replicas is None else str(replicas)),
            ("LAB_AUTH_REPLICAS", None if auth_replicas is None else str(auth_replicas)),
        )
        if value is not None
    }
    before = stack.running()
    if before:
        _check_running(stack, flags, db)
    else:  # a stopped stack takes what is given now, flags over the environment
        given = recorded.given(os.environ, (*recorded.IDENTIFYING, *recorded.STATE))
        if "LAB_MODE" in given and "LAB_PUBLISH" not in given:
            stack.env.pop("LAB_PUBLISH", None)  # the new mode's own publishing
        stack.env.update(given | flags)
        if mode is not None:
            stack.env["LAB_MODE"] = mode.value
            stack.env.pop("LAB_PUBLISH", None)
        if publish is not None:
            stack.env["LAB_PUBLISH"] = publish.value
        if db is Db.POSTGRES:
            _use_postgres(stack)
    started = time.perf_counter()
    try:
        stack.up(progress=lambda line: err.print(f"  {line}", highlight=False))
        if before and (mode is not None or publish is not None):  # running processes switch now
            s = stack.settings
            stack.set_mode(mode or s.mode, publish)
    except StackError as exc:
        fail(str(exc))
    s = stack.settings
    already = set(before) == {p.name for p in stack.specs()}
    gateway = f"http://{s.lab_host}:{s.lab_gateway_port}"
    dashboard = f"http://{s.lab_host}:{s.lab_dashboard_port}"
    if as_json:
        print_json(
            {
                "mode": s.mode,
                "publish": s.publish_label,
                "gateway": gateway,
                "dashboard": dashboard,
                "already_running": already,
                "state_dir": str(s.state_dir),
                "processes": stack.status(),
            }
        )
        return
    head = (
        "[green]already running[/green]"
        if already
        else f"[green]up[/green] in {time.perf_counter() - started:.1f}s"
    )
    console.print(
        f"{head}: mode {s.mode}, publish {s.publish_label}\n"
        f"  gateway   {gateway}\n  dashboard {dashboard}",
        highlight=False,
    )


def _check_running(stack: Stack, flags: dict[str, str], db: Db | None) -> None:
    """Refuse a setting given to `up` that the running stack does not have."""
    try:
        stack.check_given({**os.environ, **flags})
    except StackError as exc:
        fail(str(exc))
    if db is not None:
        runs = (
            Db.POSTGRES if stack.settings.database_url("auth").startswith("postgres") else Db.SQLITE
        )
        if runs is not db:
            fail(
                f"--db is {runs} in the stack at {stack.state_dir}, but {db} is given; "
                "`down` and `up` again to change it"
            )


def _use_postgres(stack: Stack) -> None:
    """Point every service at PostgreSQL: the URL given, else a database on 127.0.0.1:5432."""
    import psycopg

    from common.db import ensure_pg_database

    for service in ("auth", *CONSUMER_SERVICES):
        key = f"{service.upper()}_DATABASE_URL"
        given = stack.settings.database_url(service)  # the recorded or exported URL
        url = (
            given
            if given.startswith("postgres")
            else f"postgresql://postgres@127.0.0.1:5432/lab_{service}"
        )
        try:
            ensure_pg_database(url)
        except (psycopg.Error, OSError, ValueError) as exc:
            fail(f"PostgreSQL for {service} at {url}: {exc.__class__.__name__}: {exc}")
        stack.env[key] = url


@app.command()
def down() -> None:
    """Stop every process of the stack."""
    stopped = _stack().down(progress=lambda line: err.print(f"  {line}", highlight=False))
    err.print(f"stopped {len(stopped)} process(es)" if stopped else "nothing was running")


@app.command()
def status(as_json: Annotated[bool, typer.Option("--json", help=JSON_HELP)] = False) -> None:
    """Show each process's pid, port, health, mode, subscriber and backlog.

    Exits with code 1 when any process is down or unhealthy, so it serves as a readiness check.
    """
    rows = _stack().status()
    if as_json:
        print_json({"processes": rows})
    else:
        console.print(_status_table(rows))
    unhealthy = [r["name"] for r in rows if not r["healthy"]]
    if unhealthy:
        err.print(f"not healthy: {', '.join(unhealthy)}")
        raise typer.Exit(1)


def _status_table(rows: list[dict[str, Any]]) -> Table:
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    columns = ("name", "pid", "port", "ok", "mode", "publish", "subscriber", "outbox", "lag")
    for column in (*columns, "known"):
        table.add_column(column, no_wrap=True)
    for r in rows:
        table.add_row(
            r["name"],
            str(r["pid"] or "-"),
            str(r["port"]),
            "[green]yes[/green]" if r["healthy"] else "[red]no[/red]",
            str(r.get("mode", "")),
            str(r.get("publish", "")),
            str(r.get("subscriber", "")),
            str(r.get("outbox_pending", "")),
            str(r.get("stream_lag", "") if r.get("stream_lag") is not None else ""),
            str(r.get("known_users", "")),
        )
    return table


@app.command("mode")
def mode_cmd(
    mode: Annotated[Mode, typer.Argument(help="the discovery mode to switch to")],
    publish: Annotated[
        Publish | None, typer.Option(help="auth-side publishing (default: the mode's)")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help=JSON_HELP)] = False,
) -> None:
    """Switch the running stack to another mode without restarting a process."""
    stack = _stack()
    try:
        results = stack.set_mode(mode, publish)
    except (httpx.HTTPError, ValueError) as exc:
        fail(f"switching failed: {exc}")
    if all(r.get("note") == "not running" for r in results):
        fail(f"the stack is not running; `{PROG} up --mode {mode}` will start it in that mode")
    if as_json:
        print_json({"mode": mode, "publish": stack.settings.publish, "processes": results})
        return
    for r in results:
        pub = f", publish {r['publish']}" if r.get("publish") else ""
        sub = f", subscriber {r['subscriber']}" if r.get("subscriber") else ""
        console.print(f"  {r['name']}: {r.get('mode') or r.get('note')}{pub}{sub}")


@app.command()
def stop(name: Annotated[str, typer.Argument(help=PROCESS_HELP)]) -> None:
    """Stop one process (a fault injected by hand); exits 1 if it was not running."""
    try:
        was = _stack().stop(name)
    except StackError as exc:
        fail(str(exc))
    if not was:
        fail(f"{name} is not running")
    console.print(f"stopped {name}")


@app.command()
def start(name: Annotated[str, typer.Argument(help=PROCESS_HELP)]) -> None:
    """Start one process again, with the settings of the last `up` and `mode`."""
    try:
        pid = _stack().start(name)
    except StackError as exc:
        fail(str(exc))
    console.print(f"{name} running (pid {pid})")


@app.command()
def register(
    username: Annotated[str, typer.Argument(help=USERNAME_HELP)],
    password: Annotated[str | None, typer.Option(help=PASSWORDS_HELP)] = None,
    as_json: Annotated[bool, typer.Option("--json", help=JSON_HELP)] = False,
) -> None:
    """Register a user through the gateway."""
    try:
        reply = _client(_stack()).register(username, _password(password, confirm=True))
    except ClientError as exc:
        fail(str(exc))
    _show(reply, as_json)


@app.command()
def login(
    username: Annotated[str, typer.Argument(help="a registered username")],
    password: Annotated[str | None, typer.Option(help=PASSWORDS_HELP)] = None,
    as_json: Annotated[bool, typer.Option("--json", help=JSON_HELP)] = False,
) -> None:
    """Log in, print the token and save it under the state dir."""
    stack = _stack()
    try:
        reply = _client(stack).login(username, _password(password))
    except ClientError as exc:
        fail(str(exc))
    if reply.status != 200:
        _show(reply, as_json)
        raise typer.Exit(1)  # a reply other than 200 that is not an error either
    token = reply.body["token"]
    path = TokenStore(stack.state_dir).save(username, token)
    encrypted = sealed.is_sealed(token)
    if as_json:
        print_json(
            {
                "status": reply.status,
                "body": reply.body,
                "saved_to": str(path),
                "encrypted": encrypted,
            }
        )
    else:
        print(token)
    if encrypted:
        err.print(
            "the token is encrypted (JWE, RSA-OAEP-256 + A256GCM): only the services can read it"
        )
    err.print(f"saved to {path}")


@app.command()
def call(
    service: Annotated[
        str,
        typer.Argument(
            help=f"a service behind the gateway: {', '.join(SERVICES)}", callback=_service
        ),
    ],
    path: Annotated[str, typer.Argument(help="the path on that service, such as /whoami")],
    as_user: Annotated[
        str | None,
        typer.Option("--as", help="use this user's saved token instead of the last one saved"),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help=JSON_HELP)] = False,
    verbose: Annotated[
        bool,
        typer.Option(
            "--verbose", "-v", help="also print the request line, status line and headers"
        ),
    ] = False,
) -> None:
    """Call a service through the gateway with the last saved token (or --as USER's)."""
    stack = _stack()
    try:
        _, token = TokenStore(stack.state_dir).load(as_user)
        reply = _client(stack).call(service, path, token)
    except ClientError as exc:
        fail(str(exc))
    if verbose:
        out = err if as_json else console
        request = f"GET /{service}/{path.lstrip('/')}"
        lines = [request, "", reply.status_line, *(f"{k}: {v}" for k, v in reply.headers), ""]
        out.print("\n".join(lines), highlight=False, markup=False)
    _show(reply, as_json)


@app.command()
def deactivate(
    username: Annotated[str, typer.Argument(help="the user to deactivate")],
    password: Annotated[str | None, typer.Option(help=PASSWORDS_HELP)] = None,
) -> None:
    """Deactivate a user (logs in with the password, then DELETE /auth/users/me)."""
    try:
        gone = _client(_stack()).deactivate_user(username, _password(password))
    except ClientError as exc:
        fail(str(exc))
    if gone.status != 204:
        _show(gone, as_json=False)
        raise typer.Exit(1)
    console.print(f"deactivated {username}")


@app.command("plan")
def plan_cmd(
    username: Annotated[str, typer.Argument(help="a registered username")],
    plan: Annotated[str, typer.Argument(help="the new plan: free or pro")],
    as_json: Annotated[bool, typer.Option("--json", help=JSON_HELP)] = False,
) -> None:
    """Change a user's plan as the operator (auth's PATCH /internal/users/{id}); users cannot."""
    try:
        changed = _client(_stack()).set_plan(username, plan)
    except ClientError as exc:
        fail(str(exc))
    if as_json:
        print_json(changed)
        return
    attributes = ", ".join(
        f"{name} {'-' if value is None else value}" for name, value in changed["attributes"].items()
    )
    console.print(
        f"{changed['username']} (user {changed['user_id']}): {attributes}; "
        f"version {changed['version']}",
        highlight=False,
    )


@app.command()
def logs(
    name: Annotated[str | None, typer.Argument(help=f"{PROCESS_HELP}; all if omitted")] = None,
    lines: Annotated[int, typer.Option("--lines", "-n", help="lines per log")] = 40,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="keep printing")] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="print the JSON lines as they are, unrendered")
    ] = False,
) -> None:
    """Show a process's access and application log (JSON lines with a request id) and its console
    output; of every process if NAME is omitted."""
    from lab.logview import render

    stack = _stack()
    if name:
        try:
            stack.spec(name)
        except StackError as exc:
            fail(str(exc))
    names = [name] if name else [p.name for p in stack.specs()]
    paths = [p for n in names for p in (stack.json_log(n), stack.log_file(n)) if p.exists()]
    if not paths:
        fail(f"no logs under {stack.state_dir / 'logs'}")
    cmd = ["tail", "-n", str(lines)] + (["-F"] if follow else []) + [str(p) for p in paths]
    shown = (lambda line: line) if as_json else render
    with (
        contextlib.suppress(KeyboardInterrupt),
        subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True) as proc,
    ):
        assert proc.stdout is not None  # stdout=PIPE gives one
        try:
            for line in proc.stdout:
                print(shown(line.rstrip("\n")), flush=True)
        finally:
            proc.terminate()


@events_app.command("tail")
def events_tail(
    count: Annotated[
        int | None, typer.Option("--count", "-c", min=1, help="stop after this many events")
    ] = None,
    from_start: Annotated[
        bool, typer.Option("--from-start", help="streams: replay what the stream holds")
    ] = False,
) -> None:
    """Print events live from whichever transport the running mode uses (Ctrl-C to stop)."""
    import asyncio

    from events.tail import tail
    from lab.valkey_server import redact

    stack = _stack()
    s = stack.settings
    running = next((r.get("mode") for r in stack.status() if r["name"] == "auth"), None)
    mode = Mode(running) if running else s.mode
    transport = mode.transport
    if transport is None:
        fail(f"lazy mode publishes no events; switch with `{PROG} mode pubsub|streams|hybrid`")
    where = "channel users.events" if transport == "pubsub" else "stream users.events.stream"
    shown = redact(s.effective_valkey_url)
    err.print(f"mode {mode}: tailing the {where} on {shown} (Ctrl-C to stop)")
    try:
        asyncio.run(tail(s.effective_valkey_url, transport, print, count, from_start))
    except KeyboardInterrupt:
        pass
    except OSError as exc:
        fail(f"cannot reach Valkey at {shown}: {exc}")
    except (ValkeyError, ValkeyClusterException) as exc:
        fail(f"{exc.__class__.__name__}: {exc}")


@app.command(
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
)
def valkey(
    args: Annotated[list[str] | None, typer.Argument(help="valkey-cli arguments")] = None,
) -> None:
    """Run the bundled valkey-cli against the stack's Valkey as its admin user."""
    from lab.valkey_server import ValkeyBinaryMissing, cli_invocation

    try:
        argv, env = cli_invocation(_stack().settings.effective_valkey_url, args or [])
    except ValkeyBinaryMissing as exc:
        fail(str(exc))
    raise typer.Exit(subprocess.run(argv, env=env).returncode)


@keys_app.command("rotate")
def keys_rotate() -> None:
    """Schedule the published next key to sign, and publish a new next key."""
    from auth.keys import rotate

    s = _stack().settings
    r = rotate(s.keys_dir, s.lab_jwt_alg.value, lead=s.key_publish_lead)
    wait = max(0.0, r.activates_at - time.time())
    when = "now" if wait < 0.5 else f"in {wait:.0f}s, once every service's JWKS cache has it"
    console.print(
        f"key {r.kid} signs from {_clock(r.activates_at)} ({when}); new next key {r.next_kid} "
        f"is published; the previous key stays published for {s.lab_token_ttl}s after that"
    )


@keys_app.command("revoke")
def keys_revoke(kid: Annotated[str, typer.Argument(help="a key id, as `keys list` shows")]) -> None:
    """Remove a key from the JWKS at once; services refuse its tokens once their cache expires."""
    from auth.keys import UnknownKey, revoke

    s = _stack().settings
    try:
        new_kid = revoke(s.keys_dir, kid, s.lab_jwt_alg.value)
    except UnknownKey as exc:
        fail(str(exc))
    console.print(
        f"revoked {kid}; services refuse its tokens within {s.lab_jwks_cache_ttl:.0f}s "
        "(their JWKS cache lifetime)"
    )
    if new_kid:
        console.print(f"it was signing: the published next key {new_kid} signs from now on")


@keys_app.command("list")
def keys_list(as_json: Annotated[bool, typer.Option("--json", help=JSON_HELP)] = False) -> None:
    """List signing keys and their state (next, pending, active, retired, expired, revoked)."""
    from auth.keys import list_keys

    s = _stack().settings
    views = list_keys(s.keys_dir, s.lab_token_ttl)
    if as_json:
        keys = [
            dataclasses.asdict(v.record) | {"state": v.state.value, "retired_at": v.retired_at}
            for v in views
        ]
        print_json({"keys": keys})
        return
    table = Table("kid", "alg", "created", "signs from", "state")
    for view in views:
        r = view.record
        table.add_row(
            r.kid,
            r.alg,
            _clock(r.created_at),
            _clock(r.activates_at) if r.activates_at else "-",
            view.state.value,
        )
    console.print(table)


def _clock(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))


@app.command()
def demo(
    mode: Annotated[
        Mode | None, typer.Option(help="run this mode only (default: every mode)")
    ] = None,
    pause: Annotated[
        bool, typer.Option(help="wait for Enter before each arrow (a terminal)")
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="print steps and outcomes as JSON")
    ] = False,
) -> None:
    """The seed's sequence diagram live in each mode, the "what if" acts, one comparison table."""
    from demo.run import run_demo
    from demo.show import Silent, Terminal, tables

    stack = _stack()
    out = err if as_json else console
    if not all(r["healthy"] for r in stack.status()):
        try:
            stack.up(progress=lambda line: out.print(f"  {line}"))
        except StackError as exc:
            fail(str(exc))
        stack = _stack()

    def wait(title: str) -> None:
        typer.prompt(f"next: {title} [Enter]", default="", show_default=False)

    presenter = (
        Silent() if as_json else Terminal(console, wait if pause and sys.stdin.isatty() else None)
    )
    modes = [mode] if mode else list(Mode)
    try:
        result = run_demo(stack, _client(stack), modes, presenter)
    except (ClientError, StackError) as exc:
        fail(str(exc))
    if as_json:
        print(json.dumps(result.as_json(), indent=2, default=str))
    else:
        tables(result, console)


def _modes(values: list[str] | None) -> list[str] | None:
    """Each --modes value, split on commas and checked against the modes."""
    if not values:
        return None
    chosen = [m.strip() for v in values for m in v.split(",") if m.strip()]
    unknown = [m for m in chosen if m not in set(Mode)]
    if unknown:
        known = ", ".join(Mode)
        raise typer.BadParameter(f"{', '.join(unknown)}: not a mode (choose from {known})")
    return list(dict.fromkeys(chosen))


@app.command()
def bench(
    quick: Annotated[
        bool,
        typer.Option(
            "--quick", help="a reduced run, every part smaller (about 10 minutes on 2 cores)"
        ),
    ] = False,
    out: Annotated[
        Path | None,
        typer.Option(help="output dir (default: reports/<timestamp>/ in the current directory)"),
    ] = None,
    modes: Annotated[
        list[str] | None,
        typer.Option(
            "--modes",
            metavar="MODE",
            help=f"a mode to measure, repeatable ({', '.join(Mode)}; `a,b` works too) "
            "(default: all)",
            callback=_modes,
        ),
    ] = None,
    keep_state: Annotated[
        bool,
        typer.Option(
            "--keep-state", help="keep the run's temporary state dir (logs, databases) to inspect"
        ),
    ] = False,
    part: Annotated[
        list[str] | None,
        typer.Option(
            "--part",
            metavar="NAME",
            help="measure only this part, repeatable (default: the default plan: "
            f"{', '.join(DEFAULT_PARTS)}; an extra's name works too)",
        ),
    ] = None,
    extra: Annotated[
        list[str] | None,
        typer.Option(
            "--with",
            metavar="EXTRA",
            help="also measure this extra, repeatable: "
            + "; ".join(f"{name}: {what}" for name, what in EXTRAS.items()),
        ),
    ] = None,
) -> None:
    """Run the benchmark on its own stack; write results.json, report.md and report.html.

    An interrupted run (Ctrl-C) keeps what it measured in results.json; the stack always stops.
    """
    try:
        parts = choose(part or (), extra or ())
        require_report_deps()
    except ValueError as exc:
        fail(str(exc))
    from bench.progress import bench_progress
    from bench.run import default_out_dir, run_bench

    target = out or default_out_dir()
    started = time.perf_counter()
    try:
        with bench_progress(err) as steps:
            done = run_bench(
                target,
                quick=quick,
                modes=modes,
                progress=steps.step,
                on_plan=steps.plan,
                keep_state=keep_state,
                parts=parts,
            )
    except (ValueError, StackError) as exc:
        fail(str(exc))
    except KeyboardInterrupt as exc:  # Ctrl-C, or bench.run.Stopped for SIGTERM/SIGHUP
        err.print(f"interrupted: what was measured is in {target / 'results.json'}")
        raise typer.Exit(128 + getattr(exc, "signum", signal.SIGINT)) from None
    console.print(
        f"[green]done[/green] in {time.perf_counter() - started:.0f}s: {done / 'report.html'}"
    )


@app.command()
def report(
    directory: Annotated[Path, typer.Argument(help="a bench output dir holding results.json")],
) -> None:
    """Render report.md and report.html again from DIR/results.json."""
    if not (directory / "results.json").exists():
        fail(f"no results.json in {directory}")
    try:
        require_report_deps()
    except ValueError as exc:
        fail(str(exc))
    from bench.run import UnreadableResults, render_reports

    try:
        md, html = render_reports(directory)
    except UnreadableResults as exc:  # another schema version, or an interrupted run
        fail(str(exc))
    # A results.json from another version may lack or mistype anything: say so, no traceback.
    except Exception as exc:  # noqa: BLE001
        fail(f"cannot render {directory / 'results.json'}: {exc}")
    console.print(f"wrote {md} and {html}")


@app.command("compose-secrets")
def compose_secrets(
    directory: Annotated[
        Path, typer.Argument(help="the folder docker-compose.yml is in", file_okay=False)
    ] = Path(),
) -> None:
    """Generate what docker-compose.yml reads: .env (tokens, Valkey passwords), the token
    encryption key and Valkey's ACL file; what exists is kept."""
    if not (directory / "docker-compose.yml").is_file():
        fail(f"no docker-compose.yml in {directory.resolve()}")
    from lab.compose import generate

    files = generate(directory)
    console.print(
        f"wrote {files.env}, {files.token_key} and {files.valkey_acl}; now: docker compose up -d"
    )


@app.command("docs-figures")
def docs_figures(
    directory: Annotated[
        Path | None,
        typer.Argument(help="a bench output dir holding results.json; none: no run stored"),
    ] = None,
    out: Annotated[Path, typer.Option(help="the page to write")] = Path("docs/figures.md"),
) -> None:
    """Write the docs' figures page from DIR/results.json, with the report's own rendering."""
    if directory is not None and not (directory / "results.json").exists():
        fail(f"no results.json in {directory}")
    if not out.parent.is_dir():
        fail(f"no folder {out.parent} to write {out.name} into")
    try:
        require_report_deps()
    except ValueError as exc:
        fail(str(exc))
    from bench.figures import write_page

    try:
        written = write_page(directory, out)
    except ValueError as exc:
        fail(str(exc))
    # A results.json from another version may lack or mistype anything: say so, no traceback.
    except Exception as exc:  # noqa: BLE001
        fail(f"cannot render {directory}/results.json: {exc}")
    console.print(f"wrote {written}")


@app.command()
def reset(
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="do not ask (required without a terminal)")
    ] = False,
) -> None:
    """Stop everything and wipe the state dir (users, keys, Valkey data, logs)."""
    import shutil

    stack = _stack()
    state = stack.state_dir
    if not yes:
        if not sys.stdin.isatty():
            fail(f"refusing to wipe {state} without a terminal to ask; pass --yes")
        if not typer.confirm(f"wipe {state}?"):
            raise typer.Exit(1)
    stack.down()
    if state.exists():
        shutil.rmtree(state)
    console.print(f"stopped everything and removed {state}")


def main() -> None:
    """Entry point of the `discovery-lab` command."""
    os.umask(UMASK)  # whatever a command writes (saved tokens, keys, reports) is owner-only
    app(prog_name=PROG)


if __name__ == "__main__":
    main()
