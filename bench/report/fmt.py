"""Figures as short text: numbers at a precision that suits their size."""

from __future__ import annotations

import json
import math
from typing import Any


def fmt_num(x: float) -> str:
    """A number with a precision that suits its size."""
    if math.isinf(x):
        return "never"
    if float(x).is_integer() and abs(x) < 1e15:
        return f"{int(x):,}" if abs(x) >= 10_000 else str(int(x))
    if abs(x) >= 100:
        return f"{x:,.0f}"
    if abs(x) >= 10:
        return f"{x:.1f}"
    if abs(x) >= 1:
        return f"{x:.2f}"
    return f"{x:.3f}"


def fmt_s(x: float | None) -> str:
    """Seconds, or 'never' for None."""
    return "never" if x is None else f"{fmt_num(x)} s"


def fmt_value(value: Any) -> str:
    """Any figure as short text."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return fmt_num(value)
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(", ", ": "), default=str)


def flatten(data: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """Nested dicts as dotted keys."""
    out: list[tuple[str, Any]] = []
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.extend(flatten(value, f"{name}."))
        else:
            out.append((name, value))
    return out
