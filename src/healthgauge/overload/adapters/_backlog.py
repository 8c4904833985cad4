"""The kernel's accept queue: where an open loop's excess waits before any middleware sees it (issue #11).

Measured on the real-server benchmark (uvicorn + httptools + uvloop, ~3 ms handler, open loop at
4× capacity, ``ss`` every 0.7 s): the loop ran a steady 87-ms iteration of 28 requests, its lag
flat at 77 ms, exactly like a closed loop of 28 clients, while the listening socket's accept
queue grew 2,386 → 3,126 → 3,812 connections (~1,000 a second: arrivals less what the server
took). Every request in it timed out unseen. The loop probe cannot tell that from a closed loop;
the accept queue can: a closed loop opens no new connections.

:class:`AcceptQueue` finds this process's listening TCP sockets (Linux: ``/proc/self/fd``, sockets
with ``SO_ACCEPTCONN``) and reads the length of their accept queues with ``TCP_INFO`` (for a
listening socket ``tcpi_unacked`` is the queue's length, ``tcpi_sacked`` its capacity): one
``getsockopt`` per listener per probe sample, ~1 µs. It holds no duplicate of the server's socket
(a duplicate would keep a closed listener accepting connections nobody serves): it reads by file
descriptor number and forgets a descriptor that is no longer a listening TCP socket. Elsewhere
(no ``/proc``, no ``TCP_INFO``) it reports ``None`` and the limit works from the loop alone.
"""

from __future__ import annotations

import os
import socket
import struct

__all__ = ["AcceptQueue"]

# struct tcp_info (linux/tcp.h): eight one-byte fields, then rto, ato, snd_mss, rcv_mss, unacked.
_INFO_LEN = 32
_STATE_OFFSET = 0
_UNACKED_OFFSET = 24
_TCP_LISTEN = 10
# While no listener is known (the server binds after the app starts), look again this often (s).
RESCAN = 2.0


class AcceptQueue:
    """The summed accept-queue length of this process's listening TCP sockets, read on demand.

    ``exclude_ports``: local ports not to count (the guard's own agent-check responder).
    """

    __slots__ = ("_fds", "_next_scan", "exclude_ports", "supported")

    def __init__(self, *, exclude_ports: tuple[int, ...] = ()) -> None:
        self.exclude_ports = exclude_ports
        self._fds: list[tuple[int, int]] = []  # (fd, family)
        self._next_scan = 0.0
        self.supported = hasattr(socket, "TCP_INFO") and os.path.isdir("/proc/self/fd")

    def exclude(self, port: int) -> None:
        """Do not count the listener on ``port`` (found again at the next read)."""
        self.exclude_ports = (*self.exclude_ports, port)
        self._fds = []
        self._next_scan = 0.0

    @property
    def listeners(self) -> int:
        return len(self._fds)

    def read(self, now: float) -> int | None:
        """Connections waiting to be accepted now (``None``: unknown here, or no listener yet)."""
        if not self.supported:
            return None
        if not self._fds:
            if now < self._next_scan:
                return None
            self._next_scan = now + RESCAN
            self.scan()
        total = 0
        alive: list[tuple[int, int]] = []
        for fd, family in self._fds:
            queued = _queued(fd, family)
            if queued is not None:
                total += queued
                alive.append((fd, family))
        if len(alive) != len(self._fds):
            self._fds = alive  # a listener closed (its number may now be someone else's)
        return total if alive else None

    def scan(self) -> None:
        """Find the listening TCP sockets among this process's file descriptors."""
        found: list[tuple[int, int]] = []
        try:
            names = os.listdir("/proc/self/fd")
        except OSError:
            self.supported = False
            return
        for name in names:
            try:
                fd = int(name)
                if not os.readlink(f"/proc/self/fd/{name}").startswith("socket:"):
                    continue
            except (ValueError, OSError):
                continue
            listener = _listener(fd, self.exclude_ports)
            if listener is not None:
                found.append(listener)
        self._fds = found


def _borrow(fd: int, family: int) -> socket.socket:
    """A socket object over ``fd`` that does not own it (``detach`` before dropping it)."""
    return socket.socket(family, socket.SOCK_STREAM, 0, fileno=fd)


def _listener(fd: int, exclude_ports: tuple[int, ...]) -> tuple[int, int] | None:
    try:
        sock = socket.socket(fileno=fd)  # asks the kernel for the family and type
    except OSError:
        return None
    try:
        if sock.family not in (socket.AF_INET, socket.AF_INET6) or sock.type != socket.SOCK_STREAM:
            return None
        if not sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN):
            return None
        if sock.getsockname()[1] in exclude_ports:
            return None
        return fd, int(sock.family)
    except OSError:
        return None
    finally:
        sock.detach()


def _queued(fd: int, family: int) -> int | None:
    """``fd``'s accept-queue length, or ``None`` when it is no longer a listening TCP socket."""
    try:
        sock = _borrow(fd, family)
    except OSError:
        return None
    try:
        info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, _INFO_LEN)
    except OSError:
        return None
    finally:
        sock.detach()
    if len(info) < _INFO_LEN or info[_STATE_OFFSET] != _TCP_LISTEN:
        return None
    queued: int = struct.unpack_from("<I", info, _UNACKED_OFFSET)[0]
    return queued
