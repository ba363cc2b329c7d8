"""Small network helpers: free ports and port probes."""

from __future__ import annotations

import os
import random
import socket

import psutil

_handed_out: set[int] = set()  # ports of LAB_FREE_PORTS this process gave already


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free right now: one the OS picks, or, with LAB_FREE_PORTS=LOW-HIGH,
    one of that range, not handed out by this process before until every one has been (for a
    machine whose users each keep to a range of ports)."""
    span = os.environ.get("LAB_FREE_PORTS", "")
    if not span:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((host, 0))
            return int(sock.getsockname()[1])
    low, _, high = span.partition("-")
    ports = list(range(int(low), int(high) + 1))
    random.shuffle(ports)
    for fresh_round in (False, True):
        if fresh_round:  # every port was handed out once: those of stopped stacks are free again
            _handed_out.difference_update(ports)
        for port in ports:
            if port not in _handed_out and not port_in_use(port, host):
                _handed_out.add(port)
                return port
    raise RuntimeError(f"no free port left in LAB_FREE_PORTS={span}")


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    """True if something already listens on host:port (or it cannot be bound)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def port_holder(port: int) -> str | None:
    """`name (pid N)` of the program listening on a TCP port, if the OS will tell."""
    try:
        connections = psutil.net_connections(kind="tcp")
    except psutil.AccessDenied:
        return None
    for conn in connections:
        if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port:
            if conn.pid is None:  # another user's program: its pid is hidden from us
                return None
            try:
                name = psutil.Process(conn.pid).name()
            except psutil.Error:
                name = "a program that just exited"
            return f"{name} (pid {conn.pid})"
    return None


def free_port_run(count: int, host: str = "127.0.0.1", bus_offset: int = 10_000) -> int:
    """The first of `count` consecutive free ports whose cluster bus ports (port + 10000)
    are free too, as a Valkey Cluster on loopback needs."""
    while True:
        base = free_port(host)
        if base + count + bus_offset > 65_535:
            continue
        ports = [base + k for k in range(count)]
        if not any(port_in_use(p, host) or port_in_use(p + bus_offset, host) for p in ports):
            return base
