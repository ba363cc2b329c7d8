"""The parts of the benchmark a run can measure: the default plan and the opt-in extras."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterable
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:  # the protocol's types; a part's module imports them for real
    from bench.report import Block
    from bench.results import Results
    from bench.verdict import Contribution

# What each part measures; a run measures the default plan unless told otherwise.
DEFAULT_PARTS: dict[str, str] = {
    "codesize": "code, processes and settings each mode needs, read from the source",
    "latency": "registration, login, calls and propagation against their floors",
    "scenarios": "who learns of a user, and when, in each scenario",
    "tokens": "token size and per-call cost of packed attributes and encryption",
}
EXTRAS: dict[str, str] = {
    "capacity": "a lazy consumer's memory with 1,000,000 users seen, and a stream catch-up",
    "reliability": "each mode under sustained load with faults injected",
    "scale": "replicas on PostgreSQL and failover on a Valkey Cluster",
    "costs": "login timing by kind of failure, event signing and ACL publish",
}
ALL_PARTS: tuple[str, ...] = (*DEFAULT_PARTS, *EXTRAS)


def choose(parts: Iterable[str] = (), extras: Iterable[str] = ()) -> frozenset[str]:
    """The parts a run measures: the named parts (or the default plan) plus the extras."""
    named, added = list(dict.fromkeys(parts)), list(dict.fromkeys(extras))
    unknown = [p for p in named if p not in ALL_PARTS]
    if unknown:
        raise ValueError(f"unknown part {', '.join(unknown)} (choose from {', '.join(ALL_PARTS)})")
    wrong = [e for e in added if e not in EXTRAS]
    if wrong:
        raise ValueError(f"unknown extra {', '.join(wrong)} (choose from {', '.join(EXTRAS)})")
    return frozenset(named or DEFAULT_PARTS) | frozenset(added)


class Part(Protocol):
    """One measurement, as its package bench/parts/<name>/ states it: the name, the fields of
    results.json its typed result fills, its section of the report and its rows of the verdict."""

    name: str
    fields: tuple[str, ...]

    def section(self, results: Results, charts: bool) -> list[Block]:
        """The report's section, empty when the run's plan left the part out."""
        ...

    def axes(self, results: Results) -> Contribution:
        """The rows and claims this part adds to the verdict."""
        ...


def require_report_deps() -> None:
    """Fail early, with the fix, when the bench extra (matplotlib, for the charts) is missing;
    importable without it, so the CLI asks before it loads the runner."""
    if importlib.util.find_spec("matplotlib") is None:
        raise ValueError(
            "the benchmark's reports need matplotlib: pip install 'discovery-lab[bench]'"
        )
