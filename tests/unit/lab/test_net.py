"""Free ports: any the OS picks, or a range of one's own (LAB_FREE_PORTS)."""

from __future__ import annotations

import socket

import pytest

from lab.net import free_port, port_in_use


def test_a_range_hands_out_its_free_ports(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LAB_FREE_PORTS", raising=False)
    port = free_port()  # one the OS says is free: the range is that port alone
    monkeypatch.setenv("LAB_FREE_PORTS", f"{port}-{port}")
    assert free_port() == port
    assert free_port() == port  # all handed out once: a free one is handed out again
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", port))
        holder.listen()
        with pytest.raises(RuntimeError, match=f"LAB_FREE_PORTS={port}-{port}"):
            free_port()  # in use


def test_without_a_range_the_os_picks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LAB_FREE_PORTS", raising=False)
    assert not port_in_use(free_port())
