"""The embedded HAProxy agent-check responder: a loopback TCP port that answers one line and closes.

Thin asyncio I/O around :class:`~healthgauge.overload.AgentLine` (consumers §3.1): HAProxy opens a
new connection every ``agent-inter``, may write its ``agent-send`` string, and reads one line. We
reply at once (never wait for input that may not come), then read whatever HAProxy sent with a
short deadline so the close is clean (closing with unread input makes the kernel send a reset,
which can discard the reply before HAProxy reads it).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable

from healthgauge.overload._agentline import AgentLine, AgentReply

__all__ = ["AgentCheckResponder"]

log = logging.getLogger("healthgauge.overload")

# HAProxy's agent-send strings are short server names; nothing longer is read (1 KiB).
MAX_AGENT_SEND = 1024
# HAProxy writes agent-send as soon as it connects and closes once it has our line: 0.5 s covers a
# loaded host and is far below the default agent-inter of 2 s (consumers §3.4).
READ_DEADLINE = 0.5


class AgentCheckResponder:
    """Serves ``AgentLine.reply`` on ``host:port`` (port 0: pick one; read :attr:`port`).

    ``source()`` returns ``(load 0-100, in-flight limit or None)``; when it raises, the reply
    fails closed to full load (the weight floor), since an agent that cannot tell must not say
    healthy. Connections are served concurrently, up to ``max_connections`` at once; beyond that
    a connection is closed without a reply, which HAProxy treats as "keep the last state".
    """

    def __init__(
        self,
        source: Callable[[], tuple[float, int | None]],
        *,
        line: AgentLine | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Callable[[], float] = time.monotonic,
        read_deadline: float = READ_DEADLINE,
        max_connections: int = 256,
    ) -> None:
        self._source = source
        self._clock = clock
        self.line = line if line is not None else AgentLine(start=clock())
        self.host = host
        self.port = port
        self.read_deadline = read_deadline
        self.max_connections = max_connections
        self.served = 0
        self.refused = 0
        self._active = 0
        self._server: asyncio.Server | None = None

    def current(self) -> AgentReply:
        """The reply a connection would get now."""
        try:
            load, limit = self._source()
        except Exception:
            log.exception("agent-check: the load source failed; answering at full load")
            load, limit = math.inf, None
        return self.line.reply(self._clock(), load=load, limit=limit)

    async def start(self) -> None:
        if self._server is not None:
            return
        self._server = await asyncio.start_server(self._serve, self.host, self.port, reuse_address=True)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
            await server.wait_closed()

    async def __aenter__(self) -> AgentCheckResponder:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._active >= self.max_connections:
            self.refused += 1
            writer.close()
            return
        self._active += 1
        try:
            writer.write(self.current().line())
            await writer.drain()
            self.served += 1
            try:
                await asyncio.wait_for(reader.read(MAX_AGENT_SEND), self.read_deadline)
            except TimeoutError:
                pass
        except OSError:
            pass  # the checker went away first: nothing to answer
        finally:
            self._active -= 1
            writer.close()
