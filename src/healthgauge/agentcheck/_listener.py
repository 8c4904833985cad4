"""The one asyncio HAProxy agent-check listener: accept, maybe read ``agent-send``, write one line,
close. The agent (``agent.servers._haproxy``) and the overload middleware's responder
(``overload._responder``) both run it; what they answer is theirs, how bytes move is here.

HAProxy opens a new TCP connection every ``agent-inter``, may write its ``agent-send`` string and
reads one line. Two choices differ between users and are named parameters:

- ``reads_request``: whether the answer depends on what HAProxy sent (the agent: a target name,
  read up to a newline, :data:`MAX_REQUEST` bytes or ``read_deadline``) or not (the responder: it
  answers at once, never waiting for input that may not come, then reads what was sent within
  ``read_deadline`` so the close is clean: closing with unread input makes the kernel send a reset,
  which can discard the reply before HAProxy reads it).
- ``overflow``: what a connection past ``max_connections`` gets. :attr:`Overflow.ANSWER`: its reply
  at once, without reading (never silent; HAProxy freezes the last state of a quiet agent);
  :attr:`Overflow.CLOSE`: a close without a reply, which HAProxy treats as "keep the last state".

An ``answer`` that raises is answered ``down`` (:func:`internal_error`): never silent, fail closed.

Each connection is a protocol's callbacks and one timer, not a task over streams: a fleet of
2,000 HAProxies connecting at once cost ~0.5 s of the event loop as tasks (every probe the agent
answers waited behind it; issue #13). Connections are accepted 128 at a time from a kernel queue
of 4,096 (``http/_listen.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
from collections.abc import Callable
from dataclasses import dataclass

from healthgauge.agentcheck._codec import MAX_REQUEST, internal_error
from healthgauge.http._listen import ACCEPT_BATCH, BACKLOG, widen_backlog

__all__ = ["WRITE_DEADLINE", "AgentCheckListener", "ListenerStatistics", "Overflow"]

log = logging.getLogger("healthgauge.agentcheck")

#: How long a reply may take to leave, in seconds. The reply is a few dozen bytes; a peer that
#: cannot take them in this time is gone.
WRITE_DEADLINE = 1.0


class Overflow(enum.Enum):
    """What a connection past the cap gets: its answer without reading, or a close without one."""

    ANSWER = "answer"
    CLOSE = "close"


@dataclass(frozen=True, slots=True, kw_only=True)
class ListenerStatistics:
    """Counters since start: ``connections`` accepted, ``replies`` written, requests that sent
    ``nothing`` before the deadline (only when the answer reads one), ``overflow`` connections past
    the cap, ``errors`` (peers gone before the reply, faults of ``answer``), ``active`` right now."""

    connections: int
    replies: int
    nothing: int
    overflow: int
    errors: int
    active: int


class AgentCheckListener:
    """Serves ``answer(request)`` (``request`` is ``b""`` when nothing was read) on a TCP port."""

    def __init__(
        self,
        answer: Callable[[bytes], bytes],
        *,
        reads_request: bool,
        overflow: Overflow,
        max_connections: int,
        read_deadline: float,
        write_deadline: float = WRITE_DEADLINE,
    ) -> None:
        self._answer = answer
        self.reads_request = reads_request
        self.overflow = overflow
        self.max_connections = max_connections
        self.read_deadline = read_deadline
        self.write_deadline = write_deadline
        self._server: asyncio.Server | None = None
        self._counts = dict.fromkeys(("connections", "replies", "nothing", "overflow", "errors"), 0)
        self._active = 0
        self._open: set[_Check] = set()

    @property
    def addresses(self) -> list[str]:
        """``host:port`` (``[host]:port`` for IPv6) of every bound socket; [] when not started."""
        if self._server is None:
            return []
        out = []
        for sock in self._server.sockets:
            host, port = sock.getsockname()[:2]
            out.append(f"[{host}]:{port}" if ":" in host else f"{host}:{port}")
        return out

    @property
    def port(self) -> int:
        """The first bound socket's port (0 when not started)."""
        return 0 if self._server is None else int(self._server.sockets[0].getsockname()[1])

    @property
    def started(self) -> bool:
        return self._server is not None

    async def start(self, host: str, port: int) -> None:
        loop = asyncio.get_running_loop()
        # Accept batches of ACCEPT_BATCH (asyncio accepts up to its backlog argument at a time,
        # before serving any: a burst of 2,000 would take 2,000 files at once), from a kernel
        # queue of BACKLOG (a fleet of HAProxies polling at once; asyncio's default is 100).
        self._server = await loop.create_server(
            lambda: _Check(self), host, port, reuse_address=True, backlog=ACCEPT_BATCH
        )
        widen_backlog(self._server.sockets, BACKLOG)

    async def close(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
            for check in list(self._open):
                check.abort()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(server.wait_closed(), self.read_deadline + self.write_deadline)

    def statistics(self) -> ListenerStatistics:
        return ListenerStatistics(**self._counts, active=self._active)

    def _reply(self, request: bytes) -> bytes:
        try:
            return self._answer(request)
        except Exception as exc:  # never silent, even on our own fault: fail closed
            log.exception("agent-check reply failed")
            self._counts["errors"] += 1
            return internal_error(exc)


class _Check(asyncio.Protocol):
    """One agent check as callbacks, not a task with streams: a burst of 2,000 connections costs
    a fifth of the loop time (issue #13), and every deadline is one timer."""

    __slots__ = ("data", "done", "listener", "over", "timer", "transport")

    def __init__(self, listener: AgentCheckListener) -> None:
        self.listener = listener
        self.transport: asyncio.Transport | None = None
        self.data = b""
        self.done = False  # the reply was written
        self.over = False
        self.timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        listener = self.listener
        self.transport = transport
        listener._counts["connections"] += 1
        listener._active += 1
        listener._open.add(self)
        self.over = listener._active > listener.max_connections
        if self.over:
            listener._counts["overflow"] += 1
            if listener.overflow is Overflow.CLOSE:
                transport.close()
                return
            self._write(b"")
        elif listener.reads_request:
            self.timer = asyncio.get_running_loop().call_later(listener.read_deadline, self._answer)
        else:
            self._write(b"")

    def data_received(self, data: bytes) -> None:
        if self.done:
            if not self.listener.reads_request:  # agent-send after an answer that does not read it:
                self._close()  # it is in, so the close is clean (no reset that could drop the reply)
            return
        self.data += data
        if b"\n" in self.data or b"\r" in self.data or len(self.data) >= MAX_REQUEST:
            self._answer()

    def eof_received(self) -> bool:
        if not self.done and not self.over:
            self._answer()
        return True  # keep the transport open until the reply is written

    def connection_lost(self, exc: Exception | None) -> None:
        listener = self.listener
        listener._active -= 1
        listener._open.discard(self)
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if not self.done and not (self.over and listener.overflow is Overflow.CLOSE):
            listener._counts["errors"] += 1  # the peer went away first; nothing is left to tell it
        self.transport = None

    def _answer(self) -> None:
        if self.done or self.transport is None:
            return
        request = self.data[:MAX_REQUEST]
        if not request:
            self.listener._counts["nothing"] += 1
        self._write(request)

    def _write(self, request: bytes) -> None:
        listener, transport = self.listener, self.transport
        assert transport is not None
        if self.timer is not None:
            self.timer.cancel()
        self.done = True
        transport.write(listener._reply(request))
        listener._counts["replies"] += 1
        loop = asyncio.get_running_loop()
        if listener.reads_request or self.over:
            transport.close()  # flushes the line first
            self.timer = loop.call_later(listener.write_deadline, self.abort)
        else:  # read what HAProxy sent within the deadline, then close: a clean close, no reset
            self.timer = loop.call_later(listener.read_deadline, self._close)

    def _close(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
        if self.transport is not None:
            self.transport.close()
            self.timer = asyncio.get_running_loop().call_later(self.listener.write_deadline, self.abort)

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()
