"""The project's source read as modules: source lines, parsed imports and the import graph."""

from __future__ import annotations

import ast
import io
import tokenize
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

PROJECT_PACKAGES: tuple[str, ...] = ("auth", "consumers", "events", "common", "gateway")
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
