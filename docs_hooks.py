"""MkDocs hooks: the CLI reference page, rendered from the typer app when the site is built."""

from __future__ import annotations

from typing import Any

import typer
from typer.testing import CliRunner

MARKER = "<!-- cli-reference -->"
PAGE = "cli.md"
# Plain text at a fixed width, so the page does not depend on the terminal that builds it.
HELP_ENV = {"COLUMNS": "100", "NO_COLOR": "1", "TERM": "dumb", "_TYPER_FORCE_DISABLE_TERMINAL": "1"}


def command_paths(command: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command's path under the app, the app itself first, in declaration order (a group
    has `commands`; typer's click may be its own copy, so no isinstance)."""
    paths = [prefix]
    for name, sub in getattr(command, "commands", {}).items():
        if not sub.hidden:
            paths.extend(command_paths(sub, (*prefix, name)))
    return paths


def help_text(app: typer.Typer, path: tuple[str, ...]) -> str:
    """What `discovery-lab PATH --help` prints."""
    result = CliRunner().invoke(app, [*path, "--help"], env=HELP_ENV, prog_name="discovery-lab")
    if result.exit_code != 0:
        raise RuntimeError(f"discovery-lab {' '.join(path)} --help failed: {result.output}")
    return "\n".join(line.rstrip() for line in result.output.strip().splitlines())


def reference(app: typer.Typer) -> str:
    """The reference: one section per command, its help in a text block."""
    sections = []
    for path in command_paths(typer.main.get_command(app)):
        title = " ".join(("discovery-lab", *path))
        sections.append(f"## `{title}`\n\n```text\n{help_text(app, path)}\n```\n")
    return "\n".join(sections)


def on_page_markdown(markdown: str, page: Any, **_: Any) -> str:
    """Fill the CLI reference page; every other page passes through."""
    if page.file.src_uri != PAGE:
        return markdown
    if MARKER not in markdown:
        raise ValueError(f"docs/{PAGE} lost its marker {MARKER}")
    from cli import app

    return markdown.replace(MARKER, reference(app))
