"""Code size per mode: source lines, the import walk, and the figures on the real tree."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.parts.codesize.measure import (
    RULE,
    measure,
    measure_variant,
    project_root,
)
from bench.parts.codesize.sources import PROJECT_PACKAGES, reachable, sloc
from bench.results import CodeSize, ModuleSize

SAMPLE = '''"""Module docstring
over two lines."""

# a comment on its own line
import os  # a trailing comment does not hide the code


class A:
    """Class docstring."""

    x = 1

    def f(self):
        """Function
        docstring."""
        s = """not a docstring:
spans three
lines"""
        # another comment

        return (
            s,
            os.sep,
        )


async def g():
    """Async docstring."""
    "a bare string later in a body is code"
'''


def _write(root: Path, name: str, text: str) -> Path:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _modules(entries: list[ModuleSize]) -> set[str]:
    return {e.module for e in entries}


def test_sloc_skips_blanks_comments_and_docstrings(tmp_path: Path) -> None:
    path = _write(tmp_path, "sample.py", SAMPLE)
    # import, class, x = 1, def f, the 3-line string, return ( s, os.sep, ), async def, bare string
    assert sloc(path) == 1 + 1 + 1 + 1 + 3 + 4 + 1 + 1


def test_sloc_of_empty_and_docstring_only_files(tmp_path: Path) -> None:
    assert sloc(_write(tmp_path, "empty.py", "")) == 0
    assert sloc(_write(tmp_path, "doc.py", '"""Only a docstring."""\n\n# and a comment\n')) == 0
    assert sloc(_write(tmp_path, "one.py", "x = 1\n")) == 1


def test_sloc_sees_edits(tmp_path: Path) -> None:
    path = _write(tmp_path, "m.py", "x = 1\n")
    assert sloc(path) == 1
    path.write_text("x = 1\ny = [\n    1,\n]\n")
    assert sloc(path) == 4


def test_walker_follows_function_level_and_submodule_imports(tmp_path: Path) -> None:
    _write(tmp_path, "common/__init__.py", "")
    _write(tmp_path, "common/a.py", "import os\n\n\ndef f():\n    from common import b\n")
    _write(tmp_path, "common/b.py", "def g():\n    import common.sub.c\n")
    _write(tmp_path, "common/sub/__init__.py", "")
    _write(tmp_path, "common/sub/c.py", "from events.model import X\nimport dashboard.app\n")
    _write(tmp_path, "events/__init__.py", "")
    _write(tmp_path, "events/model.py", "X = 1\n")
    _write(tmp_path, "dashboard/app.py", "Y = 1\n")

    found = reachable(["common.a"], tmp_path, set())
    assert found == {
        "common",
        "common.a",
        "common.b",
        "common.sub",
        "common.sub.c",
        "events",
        "events.model",
    }
    assert reachable(["common.a"], tmp_path, {"common.b"}) == {"common", "common.a"}
    stopped = reachable(["common.a"], tmp_path, set(), stop={"common.sub.c"})
    assert "common.sub.c" in stopped
    assert "events.model" not in stopped


@pytest.fixture(scope="module")
def real() -> dict[str, CodeSize]:
    return measure(project_root())


def test_variants_fit_the_results_schema(real: dict[str, CodeSize]) -> None:
    assert list(real) == ["lazy", "pubsub+direct", "streams+outbox", "hybrid+outbox"]
    for figures in real.values():
        size = CodeSize.model_validate(figures.model_dump())  # it round-trips results.json
        assert size.auth_sloc > 0
        assert size.consumer_sloc > 0
        assert max(size.auth_sloc, size.consumer_sloc) < size.total_sloc
        assert size.total_sloc <= size.auth_sloc + size.consumer_sloc
        assert size.auth_sloc == sum(m.sloc for m in size.auth_modules)
        assert size.consumer_sloc == sum(m.sloc for m in size.consumer_modules)
    assert "events.outbox" in RULE


def test_modes_compare_as_expected(real: dict[str, CodeSize]) -> None:
    lazy, pubsub = real["lazy"], real["pubsub+direct"]
    streams, hybrid = real["streams+outbox"], real["hybrid+outbox"]
    assert lazy.consumer_sloc < pubsub.consumer_sloc
    assert lazy.consumer_sloc < streams.consumer_sloc
    assert hybrid.consumer_sloc >= streams.consumer_sloc
    assert lazy.auth_sloc < pubsub.auth_sloc < streams.auth_sloc
    assert "consumers.discovery.streams" in _modules(hybrid.consumer_modules)
    assert "consumers.discovery.lazy" not in _modules(streams.consumer_modules)


def test_sides_and_packages(real: dict[str, CodeSize]) -> None:
    for figures in real.values():
        auth = _modules(figures.auth_modules)
        consumer = _modules(figures.consumer_modules)
        assert not any(m.startswith("auth") for m in consumer)
        assert not any(m.startswith("consumers") for m in auth)
        assert not any(m.startswith("gateway") for m in auth | consumer)
        assert all(m.split(".")[0] in PROJECT_PACKAGES for m in auth | consumer)
        assert "common.settings" in auth & consumer
    lazy_auth = _modules(real["lazy"].auth_modules)
    assert not any(m.startswith("events") for m in lazy_auth)
    assert "auth.publishing" not in lazy_auth


def test_outbox_counts_the_outbox_and_direct_does_not(real: dict[str, CodeSize]) -> None:
    outbox = _modules(real["streams+outbox"].auth_modules)
    direct = _modules(real["pubsub+direct"].auth_modules)
    assert "events.outbox" in outbox
    assert "events.outbox" not in direct
    assert "events.pubsub" in direct and "events.streams" not in direct
    assert "events.streams" in outbox and "events.pubsub" not in outbox
    streams_direct = measure_variant(project_root(), "streams", "direct")
    assert "events.outbox" not in _modules(streams_direct.auth_modules)
    assert streams_direct.auth_sloc < real["streams+outbox"].auth_sloc
    assert streams_direct.consumer_sloc == real["streams+outbox"].consumer_sloc


def test_valkey_processes_and_settings(real: dict[str, CodeSize]) -> None:
    lazy, pubsub = real["lazy"], real["pubsub+direct"]
    streams = real["streams+outbox"]
    assert lazy.needs_valkey is False
    assert lazy.processes == ["auth", "gateway", "profiles", "notifications"]
    for label in ("pubsub+direct", "streams+outbox", "hybrid+outbox"):
        assert real[label].needs_valkey is True
        assert real[label].processes == ["valkey", *lazy.processes]
    for figures in real.values():
        assert figures.settings == sorted(set(figures.settings))
        assert {"LAB_MODE", "LAB_ISSUER", "LAB_AUDIENCE"} <= set(figures.settings)
    assert "VALKEY_URL" not in lazy.settings
    assert "LAB_PUBLISH" not in lazy.settings
    assert {"VALKEY_URL", "LAB_PUBLISH"} <= set(pubsub.settings)
    assert "LAB_STREAM_MAXLEN" not in pubsub.settings
    assert "LAB_OUTBOX_POLL_INTERVAL" not in pubsub.settings
    assert {"LAB_STREAM_MAXLEN", "LAB_DEAD_LETTER_AFTER", "LAB_OUTBOX_POLL_INTERVAL"} <= set(
        streams.settings
    )


def test_figures_follow_the_source(project_copy: Path) -> None:
    before = measure(project_copy)
    assert before == measure(project_copy)

    streams_module = project_copy / "consumers" / "discovery" / "streams.py"
    with streams_module.open("a") as fh:
        fh.write("\n# a comment and a blank line add nothing\n\n_CODESIZE_PROBE = 1\n")
    after = measure(project_copy)

    for label in ("streams+outbox", "hybrid+outbox"):
        assert after[label].consumer_sloc == before[label].consumer_sloc + 1
        assert after[label].total_sloc == before[label].total_sloc + 1
        assert after[label].auth_sloc == before[label].auth_sloc
    for label in ("lazy", "pubsub+direct"):
        assert after[label] == before[label]
