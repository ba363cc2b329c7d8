"""The benchmark's parts, in report order: a new measurement is a folder here and a line below."""

from __future__ import annotations

from bench import part
from bench.parts import capacity, codesize, costs, latency, reliability, scale, scenarios, tokens

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
