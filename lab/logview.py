"""Reading the processes' logs: JSON lines rendered for people, other lines as they are."""

from __future__ import annotations

import json
import time
from typing import Any


def render(line: str) -> str:
    """One log line for reading: an access or application JSON line in columns, else unchanged."""
    try:
        entry: Any = json.loads(line)
    except ValueError:
        return line
    if not isinstance(entry, dict) or "kind" not in entry:
        return line
    ts = float(entry.get("ts") or 0)
    when = time.strftime("%H:%M:%S", time.localtime(ts)) + f".{int(ts * 1000) % 1000:03d}"
    head = f"{when} {entry.get('process', '-')} {entry.get('request_id') or '-'}"
    if entry["kind"] == "access":
        return (
            f"{head} {entry.get('method')} {entry.get('path')} {entry.get('status')} "
            f"{entry.get('ms')}ms"
        )
    level = str(entry.get("level", "")).upper()
    text = f"{head} {level} {entry.get('logger')}: {entry.get('message')}"
    exc = entry.get("exc")
    return f"{text}\n{exc}" if exc else text
