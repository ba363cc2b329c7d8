"""How much code, which processes and which settings each mode needs, read from the source.

Rule: a side's core is what its app factory (`auth.app`, `consumers.app`) reaches through imports,
the walk cut at event code (the `events` package, `auth.publishing`) and at the per-mode modules
`consumers.discovery.<mode>`; the dispatcher `consumers.discovery` counts in the core but is not
followed, `common/` counts where reached, and the gateway, tests and bench never count. A mode adds
what its discovery module reaches on the consumer side and, if that reaches an events transport
(`events.pubsub`, `events.streams`), what `auth.publishing` reaches on the auth side with only that
transport and `events.<publish>` where such a module exists (`events.outbox`). A mode needs Valkey
when a module it adds imports `valkey`. Its settings are the `Settings` fields its counted modules
read, a value passed on to other code belonging to the module (or Valkey client) that uses it.

A module both sides use is counted once in the total. Source lines exclude blank lines,
comment-only lines and docstrings; a statement over several lines counts each line.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from bench.parts.codesize.sources import (
    PROJECT_PACKAGES,
    ModuleInfo,
    imports_package,
    load_module,
    module_path,
    modules_under,
    reachable,
    sloc,
)
from bench.parts.codesize.team import team_size
from bench.results import CodeSize, ModuleSize
from bench.variants import Variant
from common.settings import CONSUMER_SERVICES, Mode, Publish, default_publish

RULE: str = " ".join((__doc__ or "").split("\n\n")[1].split())
AUTH_APP = "auth.app"
CONSUMER_APP = "consumers.app"
PUBLISHING = "auth.publishing"
DISCOVERY = "consumers.discovery"
EVENTS = "events"
GATEWAY = "gateway"
SETTINGS_MODULE = "common.settings"
SETTINGS_CLASS = "Settings"
VALKEY_PACKAGE = "valkey"
VARIANTS: tuple[tuple[str, str | None], ...] = (
    ("lazy", None),
    ("pubsub", "direct"),
    ("streams", "outbox"),
    ("hybrid", "outbox"),
)
_MAX_HOPS = 8


# --- settings -----------------------------------------------------------------------------------


@dataclass
class SettingsModel:
    """Field names of Settings and, for each property or method, the fields it reads."""

    fields: set[str]
    members: dict[str, set[str]]
    publish_fields: set[str]

    def expand(self, attr: str) -> set[str]:
        if attr in self.fields:
            return {attr}
        return set(self.members.get(attr, set()))


def settings_model(root: Path) -> SettingsModel:
    """Read Settings' fields and what its properties read, from its source."""
    info = load_module(root, SETTINGS_MODULE)
    cls = info.defs.get(SETTINGS_CLASS) if info else None
    if not isinstance(cls, ast.ClassDef):
        raise RuntimeError(f"{SETTINGS_MODULE}.{SETTINGS_CLASS} not found under {root}")
    fields: set[str] = set()
    publish_fields: set[str] = set()
    funcs: dict[str, ast.FunctionDef | ast.AsyncFunctionDef] = {}
    for stmt in cls.body:
        if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
            fields.add(stmt.target.id)
            names = {n.id for n in ast.walk(stmt.annotation) if isinstance(n, ast.Name)}
            if Publish.__name__ in names:
                publish_fields.add(stmt.target.id)
        elif isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef):
            funcs[stmt.name] = stmt
    direct: dict[str, set[str]] = {}
    calls: dict[str, set[str]] = {}
    for fname, func in funcs.items():
        direct[fname], calls[fname] = set(), set()
        for node in ast.walk(func):
            if isinstance(node, ast.Attribute) and _is_name(node.value, "self"):
                if node.attr in fields:
                    direct[fname].add(node.attr)
                elif node.attr in funcs:
                    calls[fname].add(node.attr)
            elif isinstance(node, ast.JoinedStr):
                direct[fname] |= _fstring_fields(node, fields)
    members: dict[str, set[str]] = {}
    for fname in funcs:
        todo, done, got = [fname], set(), set()
        while todo:
            cur = todo.pop()
            if cur in done:
                continue
            done.add(cur)
            got |= direct[cur]
            todo.extend(calls[cur])
        members[fname] = got
    return SettingsModel(fields=fields, members=members, publish_fields=publish_fields)


def _is_name(node: ast.AST, name: str) -> bool:
    return isinstance(node, ast.Name) and node.id == name


def _fstring_fields(node: ast.JoinedStr, fields: set[str]) -> set[str]:
    """Fields an f-string such as f"{service}_database_url" can name (for getattr)."""
    parts = []
    for value in node.values:
        if isinstance(value, ast.Constant):
            parts.append(re.escape(str(value.value)))
        else:
            parts.append("[a-z0-9_]+")
    pattern = re.compile("".join(parts))
    return {f for f in fields if pattern.fullmatch(f)}


def _settings_reads(info: ModuleInfo, model: SettingsModel) -> Iterator[tuple[ast.AST, set[str]]]:
    """Each read of a setting in a module: a field by name, or a property of `...settings`."""
    for node in info.attributes:
        if node.attr in model.fields:
            yield node, {node.attr}
        elif node.attr in model.members and (
            _is_name(node.value, "settings")
            or (isinstance(node.value, ast.Attribute) and node.value.attr == "settings")
        ):
            yield node, model.expand(node.attr)


Owner = tuple[str, bool]  # (module that finally uses a value, whether it hands it to Valkey)


def _resolve_callee(info: ModuleInfo, func: ast.expr) -> tuple[str, list[str]] | None:
    """(module, attribute chain) a call's target comes from, or None if unknown."""
    chain: list[str] = []
    node = func
    while isinstance(node, ast.Attribute):
        chain.insert(0, node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    if node.id in info.bindings:
        module, attr = info.bindings[node.id]
        return module, ([attr] if attr else []) + chain
    if node.id in info.defs:
        return info.name, [node.id, *chain]
    return None


def _find_def(
    root: Path, module: str, chain: list[str]
) -> tuple[ModuleInfo, ast.FunctionDef | ast.AsyncFunctionDef, bool] | None:
    """The function a call lands in, and whether its first parameter is self."""
    info = load_module(root, module)
    if info is None or not chain or chain[0] not in info.defs:
        return None
    target = info.defs[chain[0]]
    if isinstance(target, ast.ClassDef):
        method = chain[1] if len(chain) > 1 else "__init__"
        for stmt in target.body:
            if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef) and stmt.name == method:
                return info, stmt, True
        return None
    if len(chain) == 1:
        return info, target, False
    return None


def _param_for(
    func: ast.FunctionDef | ast.AsyncFunctionDef, bound: bool, call: ast.Call, arg: ast.AST
) -> str | None:
    if isinstance(arg, ast.keyword):
        names = {a.arg for a in [*func.args.posonlyargs, *func.args.args, *func.args.kwonlyargs]}
        return arg.arg if arg.arg in names else None
    positional = [*func.args.posonlyargs, *func.args.args][1 if bound else 0 :]
    for index, value in enumerate(call.args):
        if isinstance(value, ast.Starred):
            return None
        if value is arg:
            return positional[index].arg if index < len(positional) else None
    return None


def _owners_of_node(
    root: Path, info: ModuleInfo, node: ast.AST, hops: int, seen: set[tuple[str, int, str]]
) -> set[Owner]:
    """Where the value of an expression ends up: the first known call it is passed to."""
    child, parent = node, info.parents.get(id(node))
    while parent is not None and not isinstance(parent, ast.stmt):
        if isinstance(parent, ast.Call) and child is not parent.func:
            callee = _resolve_callee(info, parent.func)
            if callee is not None:
                module, chain = callee
                if module.split(".")[0] not in PROJECT_PACKAGES:
                    if module.split(".")[0] == VALKEY_PACKAGE:
                        return {(info.name, True)}
                    return {(info.name, False)}
                found = _find_def(root, module, chain) if hops < _MAX_HOPS else None
                param = _param_for(found[1], found[2], parent, child) if found else None
                if found is None or param is None:
                    return {(module, False)}
                return _owners_of_param(root, found[0], found[1], param, hops + 1, seen)
        child, parent = parent, info.parents.get(id(parent))
    return {(info.name, False)}


def _owners_of_param(
    root: Path,
    info: ModuleInfo,
    func: ast.FunctionDef | ast.AsyncFunctionDef,
    param: str,
    hops: int,
    seen: set[tuple[str, int, str]],
) -> set[Owner]:
    key = (info.name, func.lineno, param)
    if key in seen:
        return set()
    seen.add(key)
    owners: set[Owner] = set()
    for stmt in func.body:
        for node in ast.walk(stmt):
            if isinstance(node, ast.Name) and node.id == param and isinstance(node.ctx, ast.Load):
                owners |= _owners_of_node(root, info, node, hops, seen)
    return owners or {(info.name, False)}


def settings_read(root: Path, counted: set[str], needs_valkey: bool, publishes: bool) -> list[str]:
    """Env var names of the settings the counted modules read, as the rule above says."""
    model = settings_model(root)
    names: set[str] = set()
    for module in sorted(counted - {SETTINGS_MODULE}):
        info = load_module(root, module)
        if info is None:
            continue
        for node, fields in _settings_reads(info, model):
            owners = _owners_of_node(root, info, node, 0, set())
            if any(m in counted and (needs_valkey or not via) for m, via in owners):
                names |= fields
    if not publishes:
        names -= model.publish_fields
    return sorted(n.upper() for n in names)


# --- modes --------------------------------------------------------------------------------------


def _sizes(root: Path, modules: set[str]) -> list[ModuleSize]:
    sizes: list[ModuleSize] = []
    for name in sorted(modules):
        path = module_path(root, name)
        count = sloc(path) if path else 0
        if count:  # empty package __init__ files add nothing and would only clutter the list
            sizes.append(ModuleSize(module=name, sloc=count))
    return sizes


def _existing(root: Path, names: Iterable[str]) -> set[str]:
    return {n for n in names if module_path(root, n) is not None}


def measure_variant(root: Path, mode: str, publish: str | None) -> CodeSize:
    """Code, processes and settings one (mode, publish) variant needs, read from root."""
    the_mode = Mode(mode)
    the_publish = Publish(publish) if publish else default_publish(the_mode)
    mode_modules = _existing(root, (f"{DISCOVERY}.{m.value}" for m in Mode))
    transports = _existing(root, (f"{EVENTS}.{m.value}" for m in Mode))
    publish_modules = _existing(root, (f"{EVENTS}.{p.value}" for p in Publish))
    never = modules_under(root, GATEWAY)
    cut = never | modules_under(root, EVENTS) | {PUBLISHING} | mode_modules

    auth_core = reachable([AUTH_APP], root, cut | {DISCOVERY})
    consumer_core = reachable([CONSUMER_APP], root, cut, stop={DISCOVERY})
    mode_module = f"{DISCOVERY}.{the_mode.value}"
    consumer_extra = reachable([mode_module], root, consumer_core | never | {DISCOVERY})

    read_transports = consumer_extra & transports  # auth publishes on what its consumers read
    publishes = bool(read_transports)
    auth_extra: set[str] = set()
    if publishes:
        chosen = read_transports | ({f"{EVENTS}.{the_publish.value}"} & publish_modules)
        unchosen = (transports | publish_modules) - chosen
        auth_extra = reachable(
            [PUBLISHING, *sorted(chosen)], root, auth_core | never | unchosen | {DISCOVERY}
        )

    auth_modules = auth_core | auth_extra
    consumer_modules = consumer_core | consumer_extra
    counted = auth_modules | consumer_modules
    needs_valkey = any(
        imports_package(root, m, VALKEY_PACKAGE) for m in sorted(auth_extra | consumer_extra)
    )
    processes = ["auth", "gateway", *CONSUMER_SERVICES]
    if needs_valkey:
        processes.insert(0, "valkey")
    auth_sizes = _sizes(root, auth_modules)
    consumer_sizes = _sizes(root, consumer_modules)
    return CodeSize(
        auth_sloc=sum(s.sloc for s in auth_sizes),
        consumer_sloc=sum(s.sloc for s in consumer_sizes),
        # a module both sides use (common/ plumbing) is counted once in the total
        total_sloc=sum(s.sloc for s in _sizes(root, counted)),
        auth_modules=auth_sizes,
        consumer_modules=consumer_sizes,
        processes=processes,
        needs_valkey=needs_valkey,
        settings=settings_read(root, counted, needs_valkey, publishes),
        team=team_size(
            root,
            the_mode,
            shared=auth_core | consumer_core,
            own=auth_extra | consumer_extra,
            has_events=publishes,
            needs_valkey=needs_valkey,
        ),
    )


def measure(root: Path) -> dict[str, CodeSize]:
    """CodeSize for each benchmarked variant, keyed by its label."""
    return {Variant.of(m, p).label: measure_variant(root, m, p) for m, p in VARIANTS}


def project_root() -> Path:
    """The checkout this module belongs to."""
    return Path(__file__).resolve().parents[3]
