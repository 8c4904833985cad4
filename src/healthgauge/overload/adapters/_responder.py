"""The embedded HAProxy agent-check responder: a loopback TCP port that answers one line and closes.

The weight, maxconn, warm-up and hysteresis come from the core's :class:`LoadReporter`; this module
renders its :class:`AgentReport` as a **full state** ending in ``\n`` and serves it (consumers §3).
HAProxy keeps any word a reply leaves out and applies nothing from a line without a newline
(§3.5 pitfalls 3-5), so every reply names health, admin state, weight and maxconn: a restarted
process, or one whose previous reply HAProxy missed, is fully described by any single line.

HAProxy opens a new connection every ``agent-inter``, may write its ``agent-send`` string, and
reads one line. We reply at once (never wait for input that may not come), then read whatever
HAProxy sent with a short deadline so the close is clean (closing with unread input makes the
kernel send a reset, which can discard the reply before HAProxy reads it).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from healthgauge.overload._load import AgentReport, AgentState

__all__ = ["AgentCheckResponder", "full_state_line"]

log = logging.getLogger("healthgauge.overload")

# HAProxy's agent-send strings are short server names; nothing longer is read (1 KiB).
MAX_AGENT_SEND = 1024
# HAProxy writes agent-send as soon as it connects and closes once it has our line: 0.5 s covers a
# loaded host and is far below the default agent-inter of 2 s (consumers §3.4).
READ_DEADLINE = 0.5


# A description longer than this is cut: HAProxy shows it in one stats cell.
MAX_REASON = 200


def _clean(reason: str) -> str:
    text = "".join(ch if " " <= ch < "\x7f" else " " for ch in reason)
    return " ".join(text.split())[:MAX_REASON] or "failed"


def full_state_line(report: AgentReport, last: AgentReport | None = None) -> bytes:
    """``report`` as one complete agent-check line: ``up ready 70% maxconn:16\n``.

    Draining, maintenance and down reports carry no weight of their own: the weight and maxconn of
    ``last`` (the latest ready report) are repeated, so the line is still a full state.
    ``#reason`` comes last and starts its own word (pitfalls 1-2).
    """
    state = report.state
    source = report if state is AgentState.READY else last
    words = ["down" if state is AgentState.DOWN else "up"]
    words.append(state.value if state in (AgentState.DRAIN, AgentState.MAINT) else "ready")
    if source is not None and source.weight is not None:
        words.append(f"{source.weight}%")
    if source is not None and source.maxconn is not None:
        words.append(f"maxconn:{source.maxconn}")
    if state is AgentState.DOWN:
        words.append("#" + _clean(report.reason))
    return (" ".join(words) + "\n").encode("ascii", "replace")


class AgentCheckResponder:
    """Serves ``full_state_line(source())`` on ``host:port`` (port 0: pick one; read :attr:`port`).

    ``source()`` returns the current :class:`AgentReport` (``LoadReporter.report(load, limit)``);
    when it raises, the reply fails closed to ``fallback`` (the weight floor): an agent that
    cannot tell must not say healthy. Connections are served concurrently, up to
    ``max_connections`` at once; beyond that a connection is closed without a reply, which HAProxy
    treats as "keep the last state".
    """

    def __init__(
        self,
        source: Callable[[], AgentReport],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        fallback_weight: int = 10,
        read_deadline: float = READ_DEADLINE,
        max_connections: int = 256,
    ) -> None:
        self._source = source
        self._fallback = AgentReport(weight=fallback_weight, maxconn=None, state=AgentState.READY, load=100)
        self._last_ready: AgentReport | None = None
        self.host = host
        self.port = port
        self.read_deadline = read_deadline
        self.max_connections = max_connections
        self.served = 0
        self.refused = 0
        self._active = 0
        self._server: asyncio.Server | None = None

    def current(self) -> bytes:
        """The line a connection would get now."""
        try:
            report = self._source()
        except Exception:
            log.exception("agent-check: the load source failed; answering at the weight floor")
            report = self._fallback
        if report.state is AgentState.READY:
            self._last_ready = report
        return full_state_line(report, self._last_ready)

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
            writer.write(self.current())
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
