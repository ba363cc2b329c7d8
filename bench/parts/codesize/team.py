"""Code size as a team adopting a mode counts it: its own product code, its tests and its
configuration, with the plumbing every mode shares counted once, apart.

Rule: shared plumbing is what every mode's app factories reach (the core of the code size
measure), less its event code. Event code in a shared module is each top-level function, class
method or import that uses a name imported from `events` or `auth.publishing`, or calls such a
function of its module; it is charged to the modes that publish or consume events, never to lazy.
A mode's own product code is what the code size measure adds for it, plus that event code when
it has events.
A test file belongs to a mode when it imports one of the mode's own modules or names the mode
(`Mode.X`); any other test file tests the plumbing. Configuration: asyncapi.yaml for modes with
events, the compose file's valkey service for modes that need Valkey.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from pathlib import Path

from bench.parts.codesize.sources import code_lines, load_module, module_path, modules_under
from bench.results import TeamSize
from common.settings import Mode

EVENT_ROOTS = ("events", "auth.publishing")
ASYNCAPI = "asyncapi.yaml"
COMPOSE = "docker-compose.yml"
VALKEY_SERVICE = "valkey"
TESTS = "tests"

Unit = ast.FunctionDef | ast.AsyncFunctionDef | ast.Import | ast.ImportFrom


def _is_event_module(name: str) -> bool:
    return any(name == r or name.startswith(f"{r}.") for r in EVENT_ROOTS)


def _units(tree: ast.Module) -> list[Unit]:
    """Top-level imports and functions, and the methods of top-level classes."""
    units: list[Unit] = []
    for stmt in tree.body:
        if isinstance(stmt, ast.Import | ast.ImportFrom | ast.FunctionDef | ast.AsyncFunctionDef):
            units.append(stmt)
        elif isinstance(stmt, ast.ClassDef):
            units += [s for s in stmt.body if isinstance(s, ast.FunctionDef | ast.AsyncFunctionDef)]
    return units


def _names_used(unit: Unit) -> set[str]:
    used = {n.id for n in ast.walk(unit) if isinstance(n, ast.Name)}
    used |= {n.attr for n in ast.walk(unit) if isinstance(n, ast.Attribute)}
    return used


def event_lines(root: Path, module: str) -> set[int]:
    """Code lines of a shared module that are event code, as the rule above says."""
    info = load_module(root, module)
    if info is None:
        return set()
    event_names = {b for b, (target, _) in info.bindings.items() if _is_event_module(target)}
    units = _units(info.tree)
    flagged: set[int] = set()
    names = {id(u): getattr(u, "name", "") for u in units}
    changed = True
    while changed:
        changed = False
        tainted = event_names | {names[i] for i in flagged if names[i]}
        for unit in units:
            if id(unit) in flagged:
                continue
            if isinstance(unit, ast.Import | ast.ImportFrom):
                hit = any(_is_event_module(t) for t in _import_targets(unit, module))
            else:
                hit = bool(_names_used(unit) & tainted)
            if hit:
                flagged.add(id(unit))
                changed = True
    code = code_lines(info.path.read_text(encoding="utf-8"))
    lines: set[int] = set()
    for unit in units:
        if id(unit) in flagged:
            lines |= set(range(unit.lineno, (unit.end_lineno or unit.lineno) + 1)) & code
    return lines


def _import_targets(node: ast.Import | ast.ImportFrom, module: str) -> list[str]:
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    return [node.module or ""] if node.level == 0 else [module]


def _sloc(root: Path, modules: Iterable[str]) -> int:
    total = 0
    for name in modules:
        path = module_path(root, name)
        if path is not None:
            total += len(code_lines(path.read_text(encoding="utf-8")))
    return total


def project_test_files(root: Path) -> list[Path]:
    """Every test module of the project."""
    return sorted(p for p in (root / TESTS).rglob("*.py") if p.name != "__init__.py")


def _test_imports(root: Path, path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names}
    return found


def _modes_named(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {
        n.attr.lower()
        for n in ast.walk(tree)
        if isinstance(n, ast.Attribute) and _is_name(n.value, Mode.__name__)
    }


def _is_name(node: ast.AST, name: str) -> bool:
    return isinstance(node, ast.Name) and node.id == name


def belongs(root: Path, path: Path, mode: Mode, own: set[str]) -> bool:
    """Whether a test file tests this mode's own code."""
    return bool(_test_imports(root, path) & own) or mode.value in _modes_named(path)


def _config_lines(text: str) -> int:
    return sum(1 for ln in text.splitlines() if ln.strip() and not ln.strip().startswith("#"))


def compose_service_lines(text: str, service: str) -> int:
    """Lines of one service's block in a compose file (indented two spaces under services)."""
    count, inside = 0, False
    for line in text.splitlines():
        if line.startswith("  ") and not line.startswith("   ") and line.strip().endswith(":"):
            inside = line.strip() == f"{service}:"
        elif line and not line.startswith(" "):
            inside = False
        if inside and line.strip() and not line.strip().startswith("#"):
            count += 1
    return count


def team_size(
    root: Path,
    mode: Mode,
    shared: set[str],
    own: set[str],
    has_events: bool,
    needs_valkey: bool,
) -> TeamSize:
    """The four parts a team adopting `mode` counts (see the module's rule)."""
    event = {m: event_lines(root, m) for m in sorted(shared)}
    shared_event = sum(len(lines) for lines in event.values())
    plumbing = _sloc(root, shared) - shared_event
    any_own = own_of_any_mode(root)
    mine, plumbing_tests = [], 0
    for path in project_test_files(root):
        size = len(code_lines(path.read_text(encoding="utf-8")))
        if belongs(root, path, mode, own):
            mine.append((path, size))
        elif not _modes_named(path) and not _test_imports(root, path) & any_own:
            plumbing_tests += size
    configs: list[tuple[str, int]] = []
    if has_events and (root / ASYNCAPI).is_file():
        configs.append((ASYNCAPI, _config_lines((root / ASYNCAPI).read_text(encoding="utf-8"))))
    if needs_valkey and (root / COMPOSE).is_file():
        text = (root / COMPOSE).read_text(encoding="utf-8")
        configs.append(
            (f"{COMPOSE}: {VALKEY_SERVICE}", compose_service_lines(text, VALKEY_SERVICE))
        )
    return TeamSize(
        product_sloc=_sloc(root, own) + (shared_event if has_events else 0),
        shared_event_sloc=shared_event if has_events else 0,
        tests_sloc=sum(size for _, size in mine),
        test_files=[str(p.relative_to(root)) for p, _ in mine],
        config_sloc=sum(n for _, n in configs),
        config_files=[name for name, _ in configs],
        plumbing_sloc=plumbing,
        plumbing_tests_sloc=plumbing_tests,
    )


def own_of_any_mode(root: Path) -> set[str]:
    """Modules that are some mode's own: the event modules and the per-mode discovery modules."""
    per_mode = {f"consumers.discovery.{m.value}" for m in Mode}
    return per_mode | modules_under(root, "events") | {"auth.publishing"}
