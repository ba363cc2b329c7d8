"""Owner-only state: the umask of the stack's processes, private dirs and logs, and tightening."""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path
from typing import BinaryIO

# Every process the stack starts creates its files without group or other bits: Valkey's AOF
# (every event, emails included), SQLite's database, -wal and -shm files, keys and logs.
UMASK = 0o077
_OPEN_TO_OTHERS = 0o077


def private_dir(path: Path) -> Path:
    """Create path and any missing parents owner-only (mkdir -p would give the parents the
    default mode), and make path itself owner-only if it was not."""
    make_private_dirs(path)
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & _OPEN_TO_OTHERS:
        path.chmod(mode & ~_OPEN_TO_OTHERS)
    return path


def make_private_dirs(path: Path) -> None:
    """Create the missing folders of path, each 0700; existing ones are left as they are."""
    if path.is_dir():
        return
    make_private_dirs(path.parent)
    with contextlib.suppress(FileExistsError):  # another process was quicker
        path.mkdir(mode=0o700)


def open_private_log(path: Path) -> BinaryIO:
    """Open a log for appending, created 0600 (one left readable by an older version too)."""
    private_dir(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.fchmod(fd, 0o600)
    return os.fdopen(fd, "ab")


def tighten(root: Path) -> list[Path]:
    """Take group and other bits off every file and folder under root (root included), as an
    older version may have left them; symbolic links are left alone. Returns what changed."""
    if not root.is_dir():
        return []
    paths = [root]
    for folder, dirs, files in os.walk(root):
        paths += [Path(folder) / name for name in (*dirs, *files)]
    return [path for path in paths if _tighten(path)]


def _tighten(path: Path) -> bool:
    """Make one file or folder owner-only; False if it was already, or is a link."""
    try:
        mode = path.lstat().st_mode
        if stat.S_ISLNK(mode) or not mode & _OPEN_TO_OTHERS:
            return False
        path.chmod(stat.S_IMODE(mode) & ~_OPEN_TO_OTHERS)
    except OSError:  # gone meanwhile, or not ours to change
        return False
    return True
