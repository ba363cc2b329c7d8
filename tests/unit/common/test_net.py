"""Free ports: any the OS picks, or a range of one's own (LAB_FREE_PORTS)."""

from __future__ import annotations

import pytest

from common.net import free_port, port_in_use


def test_a_range_hands_out_free_ports_of_its_own_each_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    free = [p for p in range(23990, 24000) if not port_in_use(p)]
    monkeypatch.setenv("LAB_FREE_PORTS", "23990-23999")
    given = [free_port() for _ in free]
    assert sorted(given) == free  # each free port of the range once
    with pytest.raises(RuntimeError, match="LAB_FREE_PORTS=23990-23999"):
        free_port()


def test_without_a_range_the_os_picks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LAB_FREE_PORTS", raising=False)
    assert not port_in_use(free_port())
