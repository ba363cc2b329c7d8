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
import io
import json
import re
import sys
import tokenize
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, TypedDict

from bench.variants import Variant
from common.settings import CONSUMER_SERVICES, Mode, Publish, default_publish

if TYPE_CHECKING:
    from bench.teamsize import TeamSizeDict

RULE: str = " ".join((__doc__ or "").split("\n\n")[1].split())
PROJECT_PACKAGES: tuple[str, ...] = ("auth", "consumers", "events", "common", "gateway")
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
_SKIPPED_TOKENS = frozenset(
    {
        tokenize.COMMENT,
        tokenize.NL,
        tokenize.NEWLINE,
        tokenize.INDENT,
        tokenize.DEDENT,
        tokenize.ENCODING,
        tokenize.ENDMARKER,
    }
)


class ModuleSizeDict(TypedDict):
    module: str
    sloc: int


class CodeSizeDict(TypedDict):
    auth_sloc: int
    consumer_sloc: int
    total_sloc: int
    auth_modules: list[ModuleSizeDict]
    consumer_modules: list[ModuleSizeDict]
    processes: list[str]
    needs_valkey: bool
    settings: list[str]
    team: TeamSizeDict


# --- source lines -------------------------------------------------------------------------------


def _docstring_spans(tree: ast.Module) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """(start, end) positions of every module, class and function docstring."""
    spans = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        body = node.body
        if not body or not isinstance(body[0], ast.Expr):
            continue
        value = body[0].value
        if isinstance(value, ast.Constant) and isinstance(value.value, str):
            end = (value.end_lineno or value.lineno, value.end_col_offset or 0)
            spans.append(((value.lineno, value.col_offset), end))
    return spans


def code_lines(source: str) -> set[int]:
    """Numbers of the physical lines holding code: no blanks, comment-only lines or docstrings."""
    spans = _docstring_spans(ast.parse(source))
    lines: set[int] = set()
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type in _SKIPPED_TOKENS:
            continue
        if tok.type == tokenize.STRING and any(a <= tok.start and tok.end <= b for a, b in spans):
            continue
        lines.update(range(tok.start[0], tok.end[0] + 1))
    return lines


def sloc_of_source(source: str) -> int:
    """Physical lines holding code: no blank lines, comment-only lines or docstrings."""
    return len(code_lines(source))


def sloc(path: Path) -> int:
    """Source lines of one file (see sloc_of_source)."""
    return _sloc_cached(str(path), *_stamp(path))


def _stamp(path: Path) -> tuple[int, int]:
    st = path.stat()
    return st.st_mtime_ns, st.st_size


@lru_cache(maxsize=1024)
def _sloc_cached(path: str, mtime_ns: int, size: int) -> int:
    return sloc_of_source(Path(path).read_text(encoding="utf-8"))


# --- modules and the import graph ---------------------------------------------------------------


@dataclass
class ModuleInfo:
    """One parsed module: its imports, the names they bind, and parent links for its AST."""

    name: str
    path: Path
    is_package: bool
    tree: ast.Module
    imported: set[str] = field(default_factory=set)  # dotted names of every import target
    bindings: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    parents: dict[int, ast.AST] = field(default_factory=dict)
    defs: dict[str, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef] = field(
        default_factory=dict
    )
    attributes: list[ast.Attribute] = field(default_factory=list)


def module_path(root: Path, name: str) -> Path | None:
    """The file of a project module under root, or None."""
    if name.split(".")[0] not in PROJECT_PACKAGES:
        return None
    base = root.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def modules_under(root: Path, package: str) -> set[str]:
    """Every module of a project package, the package itself included."""
    found: set[str] = set()
    top = root / package
    for path in top.rglob("*.py"):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found.add(".".join(parts))
    return found


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _runtime_nodes(tree: ast.AST) -> Iterator[ast.AST]:
    """Every node, skipping `if TYPE_CHECKING:` bodies (those imports never run)."""
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
            continue
        stack.extend(ast.iter_child_nodes(node))


def load_module(root: Path, name: str) -> ModuleInfo | None:
    """Parse a project module (cached while the file is unchanged)."""
    path = module_path(root, name)
    if path is None:
        return None
    return _load_cached(str(root), name, str(path), *_stamp(path))


@lru_cache(maxsize=1024)
def _load_cached(root: str, name: str, path: str, mtime_ns: int, size: int) -> ModuleInfo:
    source = Path(path).read_text(encoding="utf-8")
    tree = ast.parse(source)
    is_package = Path(path).name == "__init__.py"
    info = ModuleInfo(name=name, path=Path(path), is_package=is_package, tree=tree)
    package = name if is_package else name.rpartition(".")[0]
    for node in _runtime_nodes(tree):
        for child in ast.iter_child_nodes(node):
            info.parents[id(child)] = node
        if isinstance(node, ast.Attribute):
            info.attributes.append(node)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                info.imported.add(alias.name)
                if alias.asname:
                    info.bindings[alias.asname] = (alias.name, None)
                else:
                    top = alias.name.split(".")[0]
                    info.bindings[top] = (top, None)
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(package, node.module, node.level)
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                is_module = module_path(Path(root), sub) is not None
                info.imported.add(sub if is_module else base)
                bound = alias.asname or alias.name
                info.bindings[bound] = (sub, None) if is_module else (base, alias.name)
    for stmt in tree.body:
        if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            info.defs[stmt.name] = stmt
    return info


def _absolute(package: str, module: str | None, level: int) -> str:
    if level == 0:
        return module or ""
    parts = package.split(".") if package else []
    if level > 1:
        parts = parts[: len(parts) - (level - 1)]
    return ".".join([*parts, module] if module else parts)


def _with_parents(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts) + 1)]


def project_imports(root: Path, name: str) -> set[str]:
    """Project modules a module imports, parent packages included (Python runs them too)."""
    info = load_module(root, name)
    if info is None:
        return set()
    found: set[str] = set()
    for target in info.imported:
        for candidate in _with_parents(target):
            if candidate != name and module_path(root, candidate) is not None:
                found.add(candidate)
    return found


def reachable(
    entry_modules: list[str],
    root: Path,
    exclude: set[str],
    stop: Iterable[str] = (),
) -> set[str]:
    """Project modules reachable from the entries through imports (function-level ones too).

    Modules in `exclude` are neither counted nor followed; modules in `stop` are counted but
    their imports are not followed. Names match exactly (excluding a package does not exclude
    its submodules).
    """
    stops = set(stop)
    seen: set[str] = set()
    queue = [m for entry in entry_modules for m in _with_parents(entry)]
    while queue:
        name = queue.pop()
        if name in seen or name in exclude or module_path(root, name) is None:
            continue
        seen.add(name)
        if name not in stops:
            queue.extend(sorted(project_imports(root, name) - seen))
    return seen


def imports_package(root: Path, name: str, package: str) -> bool:
    """True if the module imports the (external) package anywhere."""
    info = load_module(root, name)
    return info is not None and any(t.split(".")[0] == package for t in info.imported)


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


def _sizes(root: Path, modules: set[str]) -> list[ModuleSizeDict]:
    sizes: list[ModuleSizeDict] = []
    for name in sorted(modules):
        path = module_path(root, name)
        count = sloc(path) if path else 0
        if count:  # empty package __init__ files add nothing and would only clutter the list
            sizes.append({"module": name, "sloc": count})
    return sizes


def _existing(root: Path, names: Iterable[str]) -> set[str]:
    return {n for n in names if module_path(root, n) is not None}


def measure_variant(root: Path, mode: str, publish: str | None) -> CodeSizeDict:
    """Code, processes and settings one (mode, publish) variant needs, read from root."""
    from bench.teamsize import team_size  # it builds on this module

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
    return {
        "auth_sloc": sum(s["sloc"] for s in auth_sizes),
        "consumer_sloc": sum(s["sloc"] for s in consumer_sizes),
        # a module both sides use (common/ plumbing) is counted once in the total
        "total_sloc": sum(s["sloc"] for s in _sizes(root, counted)),
        "auth_modules": auth_sizes,
        "consumer_modules": consumer_sizes,
        "processes": processes,
        "needs_valkey": needs_valkey,
        "settings": settings_read(root, counted, needs_valkey, publishes),
        "team": team_size(
            root,
            the_mode,
            shared=auth_core | consumer_core,
            own=auth_extra | consumer_extra,
            has_events=publishes,
            needs_valkey=needs_valkey,
        ),
    }


def measure(root: Path) -> dict[str, CodeSizeDict]:
    """CodeSize for each benchmarked variant, keyed by its label."""
    return {Variant.of(m, p).label: measure_variant(root, m, p) for m, p in VARIANTS}


def project_root() -> Path:
    """The checkout this module belongs to."""
    return Path(__file__).resolve().parent.parent


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else project_root()
    print(json.dumps(measure(target), indent=2))
