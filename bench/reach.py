"""Who a scenario run reached: by its event, rescued by the lazy fallback, or never."""

from __future__ import annotations

from dataclasses import dataclass

from bench.results import ScenarioRun


@dataclass(frozen=True)
class Reach:
    """Users of one run, each counted once, whatever the number of consumers.

    A user is never reached when at least one consumer never knew them; rescued when every
    consumer knew them but at least one only through a lazy provision at a first call (in lazy
    mode that is the only path); reached by its event otherwise.
    """

    users: int
    by_event: int
    rescued: int
    never: int
    never_per_consumer: dict[str, int]


def reach(run: ScenarioRun) -> Reach:
    """The three counts of one run, and how many users each consumer missed."""
    never = set().union(*(set(c.missed_ids) for c in run.consumers.values()))
    lazy = set().union(*(set(c.lazy_ids) for c in run.consumers.values())) - never
    return Reach(
        users=run.users,
        by_event=run.users - len(never) - len(lazy),
        rescued=len(lazy),
        never=len(never),
        never_per_consumer={name: len(c.missed_ids) for name, c in run.consumers.items()},
    )


def add(reaches: list[Reach]) -> Reach:
    """The counts of several runs together."""
    per: dict[str, int] = {}
    for r in reaches:
        for name, count in r.never_per_consumer.items():
            per[name] = per.get(name, 0) + count
    return Reach(
        users=sum(r.users for r in reaches),
        by_event=sum(r.by_event for r in reaches),
        rescued=sum(r.rescued for r in reaches),
        never=sum(r.never for r in reaches),
        never_per_consumer=per,
    )
