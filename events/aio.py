"""Asyncio helpers shared by the long-running event loops."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any


def raise_if_cancelling() -> None:
    """Re-raise a cancellation that a library swallowed (Python 3.11's asyncio.wait_for can).

    valkey-py sends every command through asyncio.wait_for when a socket timeout is set; on
    Python 3.11 a cancel that lands as the send completes is dropped, but the task still
    reports cancelling() > 0. Forever-loops call this each turn so cancel() always stops them.
    """
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


async def stop_task(task: asyncio.Task[Any] | None) -> None:
    """Cancel a background task and wait until it has finished."""
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
