"""The embedded HAProxy agent-check responder: a loopback TCP port that answers one line and closes.

The weight, maxconn, warm-up and hysteresis come from the core's :class:`LoadReporter`; this module
renders its :class:`AgentReport` as a **full state** ending in ``\n`` with the one agent-check codec
and serves it on the one listener (:mod:`healthgauge.agentcheck`; consumers §3).
HAProxy keeps any word a reply leaves out and applies nothing from a line without a newline
(§3.5 pitfalls 3-5), so every reply names health, admin state, weight and maxconn: a restarted
process, or one whose previous reply HAProxy missed, is fully described by any single line.

HAProxy opens a new connection every ``agent-inter``, may write its ``agent-send`` string, and
reads one line. We reply at once (never wait for input that may not come), then read whatever
HAProxy sent with a short deadline so the close is clean (closing with unread input makes the
kernel send a reset, which can discard the reply before HAProxy reads it).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from healthgauge.agentcheck._codec import AgentReply, encode_reply
from healthgauge.agentcheck._listener import AgentCheckListener, Overflow
from healthgauge.overload._load import AgentReport, AgentState

__all__ = ["AgentCheckResponder", "full_state_line"]

log = logging.getLogger("healthgauge.overload")

# HAProxy writes agent-send as soon as it connects and closes once it has our line: 0.5 s covers a
# loaded host and is far below the default agent-inter of 2 s (consumers §3.4).
READ_DEADLINE = 0.5


def full_state_line(report: AgentReport, last: AgentReport | None = None) -> bytes:
    """``report`` as one complete agent-check line: ``up ready 70% maxconn:16\n``.

    Draining, maintenance and down reports carry no weight of their own: the weight and maxconn of
    ``last`` (the latest ready report) are repeated, so the line is still a full state.
    ``#reason`` comes last and starts its own word (pitfalls 1-2).
    """
    state = report.state
    source = report if state is AgentState.READY else last
    return encode_reply(
        AgentReply(
            up=state is not AgentState.DOWN,
            admin=state.admin,
            weight=None if source is None else source.weight,
            maxconn=None if source is None else source.maxconn,
            reason=report.reason or "failed",
        )
    )


class AgentCheckResponder:
    """Serves ``full_state_line(source())`` on ``host:port`` (port 0: pick one; read :attr:`port`).

    ``source()`` returns the current :class:`AgentReport` (``LoadReporter.report(load, limit)``);
    when it raises, the reply fails closed to ``fallback`` (the weight floor): an agent that
    cannot tell must not say healthy. Connections are served concurrently, up to
    ``max_connections`` at once; beyond that a connection is closed without a reply
    (``Overflow.CLOSE``), which HAProxy treats as "keep the last state". Runs the one agent-check
    listener (:mod:`healthgauge.agentcheck`): it answers at once and reads ``agent-send`` after.
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
        self._listener = AgentCheckListener(
            lambda _request: self.current(),
            reads_request=False,
            overflow=Overflow.CLOSE,
            max_connections=max_connections,
            read_deadline=read_deadline,
        )

    @property
    def read_deadline(self) -> float:
        return self._listener.read_deadline

    @property
    def max_connections(self) -> int:
        return self._listener.max_connections

    @property
    def served(self) -> int:
        """Connections answered with a line."""
        return self._listener.statistics().replies

    @property
    def refused(self) -> int:
        """Connections past ``max_connections``, closed without a line."""
        return self._listener.statistics().overflow

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
        if self._listener.started:
            return
        await self._listener.start(self.host, self.port)
        self.port = self._listener.port

    async def close(self) -> None:
        await self._listener.close()

    async def __aenter__(self) -> AgentCheckResponder:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
