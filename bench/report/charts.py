"""Matplotlib figures as PNG bytes, drawn without a display."""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import matplotlib as mpl

mpl.use("Agg")

from matplotlib.figure import Figure


def png(fig: Figure) -> bytes:
    """The figure as PNG bytes."""
    buf = io.BytesIO()
    # Twice the screen density, so a chart stays sharp on a projector or a high-density screen.
    fig.savefig(buf, format="png", dpi=192, metadata={"Software": None})
    return buf.getvalue()


def colors(names: Sequence[str]) -> dict[str, Any]:
    """One colour per name, stable in the order given."""
    cmap = mpl.colormaps["tab10"]
    return {name: cmap(i % 10) for i, name in enumerate(names)}
