"""Owner-only state: private folders and logs, and tightening what an older version left open."""

from __future__ import annotations

import stat
from pathlib import Path

from common.statefiles import open_private_log, private_dir, tighten


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def test_tighten_takes_group_and_other_bits_off_everything_under_the_root(tmp_path: Path) -> None:
    root = tmp_path / "state"
    (root / "valkey" / "appendonlydir").mkdir(parents=True)
    aof = root / "valkey" / "appendonlydir" / "appendonly.aof.1.incr.aof"
    db, wal, log = root / "auth.sqlite3", root / "auth.sqlite3-wal", root / "auth.log"
    script = root / "hook.sh"
    for path in (aof, db, wal, log, script):
        path.write_text("x")
    for path, old in [
        (root, 0o755),
        (root / "valkey", 0o775),
        (root / "valkey" / "appendonlydir", 0o777),
        (aof, 0o644),
        (db, 0o664),
        (wal, 0o666),
        (log, 0o604),
        (script, 0o755),
    ]:
        path.chmod(old)
    outside = tmp_path / "outside.txt"
    outside.write_text("not ours to change")
    outside.chmod(0o644)
    (root / "link").symlink_to(outside)
    private = root / "internal-token"
    private.write_text("t")
    private.chmod(0o600)

    changed = tighten(root)

    assert set(changed) == {root, root / "valkey", aof.parent, aof, db, wal, log, script}
    assert mode(root) == mode(root / "valkey") == mode(aof.parent) == 0o700
    assert mode(aof) == mode(db) == mode(wal) == mode(log) == mode(private) == 0o600
    assert mode(script) == 0o700  # the owner's bits stay as they were
    assert mode(outside) == 0o644  # a link is not followed
    assert tighten(root) == []  # nothing left to do


def test_tighten_of_a_missing_root_does_nothing(tmp_path: Path) -> None:
    assert tighten(tmp_path / "absent") == []


def test_private_dir_creates_missing_parents_owner_only_and_leaves_existing_ones(
    tmp_path: Path,
) -> None:
    tmp_path.chmod(0o755)
    made = private_dir(tmp_path / "state" / "valkey" / "6390")
    assert made.is_dir()
    for path in (made, made.parent, made.parent.parent):
        assert mode(path) == 0o700
    assert mode(tmp_path) == 0o755  # it existed: not ours to change
    loose = tmp_path / "loose"
    loose.mkdir(mode=0o755)
    loose.chmod(0o755)
    assert mode(private_dir(loose)) == 0o700


def test_a_log_is_created_owner_only_and_an_old_readable_one_tightened(tmp_path: Path) -> None:
    new = tmp_path / "logs" / "auth.log"
    with open_private_log(new) as out:
        out.write(b"one\n")
    assert mode(new) == 0o600 and mode(new.parent) == 0o700
    old = tmp_path / "logs" / "valkey.log"
    old.write_text("before\n")
    old.chmod(0o644)
    with open_private_log(old) as out:
        out.write(b"after\n")
    assert mode(old) == 0o600
    assert old.read_text() == "before\nafter\n"  # appended, not truncated
