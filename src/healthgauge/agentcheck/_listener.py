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
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
from collections.abc import Callable
from dataclasses import dataclass

from healthgauge.agentcheck._codec import MAX_REQUEST, internal_error

__all__ = ["WRITE_DEADLINE", "AgentCheckListener", "ListenerStatistics", "Overflow"]

#: Bytes read after the reply when the answer does not read the request: HAProxy's agent-send
#: strings are short server names, and this is only to let them in before the close.
DRAIN_BYTES = 1024

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
        self._server = await asyncio.start_server(self._handle, host, port, reuse_address=True)

    async def close(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(server.wait_closed(), self.read_deadline + self.write_deadline)

    def statistics(self) -> ListenerStatistics:
        return ListenerStatistics(**self._counts, active=self._active)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._counts["connections"] += 1
        self._active += 1
        try:
            over = self._active > self.max_connections
            if over:
                self._counts["overflow"] += 1
                if self.overflow is Overflow.CLOSE:
                    return
            request = await self._read(reader) if self.reads_request and not over else b""
            writer.write(self._reply(request))
            await asyncio.wait_for(writer.drain(), self.write_deadline)
            self._counts["replies"] += 1
            if not self.reads_request and not over:
                with contextlib.suppress(TimeoutError):  # let HAProxy's agent-send in: a clean close
                    await asyncio.wait_for(reader.read(DRAIN_BYTES), self.read_deadline)
        except (OSError, TimeoutError):
            self._counts["errors"] += 1  # the peer went away first; nothing is left to tell it
        finally:
            self._active -= 1
            writer.close()
            with contextlib.suppress(OSError, TimeoutError):
                await asyncio.wait_for(writer.wait_closed(), self.write_deadline)

    def _reply(self, request: bytes) -> bytes:
        try:
            return self._answer(request)
        except Exception as exc:  # never silent, even on our own fault: fail closed
            log.exception("agent-check reply failed")
            self._counts["errors"] += 1
            return internal_error(exc)

    async def _read(self, reader: asyncio.StreamReader) -> bytes:
        """What HAProxy sent, up to a newline, `MAX_REQUEST` bytes, its close or the deadline."""
        data = b""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.read_deadline):
                while b"\n" not in data and b"\r" not in data and len(data) < MAX_REQUEST:
                    chunk = await reader.read(MAX_REQUEST - len(data))
                    if not chunk:
                        break
                    data += chunk
        if not data:
            self._counts["nothing"] += 1
        return data
