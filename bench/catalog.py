"""The benchmark's parts, in report order: a new measurement is a folder in bench/parts/ and a
line below."""

from __future__ import annotations

from bench import part
from bench.parts.capacity import part as capacity
from bench.parts.codesize import part as codesize
from bench.parts.costs import part as costs
from bench.parts.latency import part as latency
from bench.parts.reliability import part as reliability
from bench.parts.scale import part as scale
from bench.parts.scenarios import part as scenarios
from bench.parts.tokens import part as tokens
from bench.results import Results
from bench.verdict import Verdict, cost_columns, variant_modes

PARTS: tuple[part.Part, ...] = (
    codesize,
    latency,
    scenarios,
    tokens,
    reliability,
    scale,
    capacity,
    costs,
)


def verdict(results: Results) -> Verdict:
    """Everything the summary shows, each part's rows in catalog order, from the figures alone."""
    found = [p.axes(results) for p in PARTS]
    return Verdict(
        columns=cost_columns(results),
        variants=variant_modes(results),
        mode_axes=tuple(a for c in found for a in c.mode_axes),
        variant_axes=tuple(a for c in found for a in c.variant_axes),
        claims=tuple(claim for c in found for claim in c.claims),
        targets=tuple(t for c in found for t in c.targets),
    )
