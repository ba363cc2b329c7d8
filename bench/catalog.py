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
