"""AcceptQueue (issue #11): the kernel's accept queue of this process's listeners, on loopback."""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Iterator

import pytest

from healthgauge.overload.adapters import _backlog
from healthgauge.overload.adapters._backlog import RESCAN, AcceptQueue

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="TCP_INFO and /proc/self/fd are Linux's")


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    yield sock
    sock.close()


def connect(sock: socket.socket, n: int) -> list[socket.socket]:
    return [socket.create_connection(sock.getsockname(), timeout=5) for _ in range(n)]


def test_counts_connections_waiting_to_be_accepted(listener: socket.socket) -> None:
    queue = AcceptQueue()
    assert queue.read(0.0) == 0
    clients = connect(listener, 5)
    try:
        assert queue.read(0.1) == 5  # loopback completes the handshake in connect()
        accepted, _ = listener.accept()
        accepted.close()
        assert queue.read(0.2) == 4
    finally:
        for client in clients:
            client.close()


def test_an_excluded_port_is_not_counted(listener: socket.socket) -> None:
    queue = AcceptQueue()
    other = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    other.bind(("127.0.0.1", 0))
    other.listen(8)
    clients = connect(listener, 2) + connect(other, 3)
    try:
        assert queue.read(0.0) == 5
        queue.exclude(other.getsockname()[1])
        assert queue.read(0.1) == 2
    finally:
        for client in clients:
            client.close()
        other.close()


def test_a_closed_listener_is_forgotten_and_never_kept_open(listener: socket.socket) -> None:
    """The queue holds no duplicate of the server's socket: once closed, connecting fails."""
    queue = AcceptQueue()
    assert queue.read(0.0) == 0
    address = listener.getsockname()
    listener.close()
    assert queue.read(0.1) is None
    assert queue.listeners == 0
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(address, timeout=2).close()


def test_without_a_listener_it_looks_again_only_every_rescan_seconds(monkeypatch: pytest.MonkeyPatch) -> None:
    """The server binds after the app starts: until a listener is found, /proc/self/fd is read
    again every RESCAN seconds, not at every probe sample."""
    scans: list[str] = []
    listdir = os.listdir

    def counted(path: str) -> list[str]:
        scans.append(path)
        return listdir(path)

    monkeypatch.setattr(_backlog, "_listener", lambda fd, exclude: None)  # nothing listens
    monkeypatch.setattr(os, "listdir", counted)
    queue = AcceptQueue()
    assert queue.read(100.0) is None
    assert queue.read(100.0 + RESCAN / 2) is None
    assert len(scans) == 1
    assert queue.read(100.0 + RESCAN) is None
    assert len(scans) == 2
