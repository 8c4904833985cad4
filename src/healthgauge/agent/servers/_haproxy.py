"""The HAProxy agent-check listener (``haproxy_listen`` under ``[agent]``; consumers.md §3).

HAProxy opens a new TCP connection every ``agent-inter``, may write its ``agent-send`` string, and
reads one line back. This server runs the one agent-check listener (:mod:`healthgauge.agentcheck`),
which reads what HAProxy sent (a target name) with a short deadline; it looks the target up in the
state hub and answers :func:`healthgauge.health.render_agent_reply`'s line.

Rules it keeps (§3.1, §3.3, §3.5):

- **Never silent.** HAProxy freezes the last state when an agent goes quiet, so every accepted
  connection gets a line: an unknown name, a full house or an internal error all answer ``down``
  with a reason (fail closed), never nothing.
- **Never block on ``agent-send``.** It is optional; when nothing arrives within `READ_DEADLINE`
  the reply is for the default target (``haproxy_default``, or the only target).
- **Concurrent.** One agent answers many servers and load balancers at once.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass

from healthgauge.agent._config import Address, Config
from healthgauge.agent.servers._resources import connection_cap
from healthgauge.agent.state._hub import StateHub
from healthgauge.agentcheck._codec import down_line, parse_request
from healthgauge.agentcheck._listener import AgentCheckListener, Overflow
from healthgauge.health._haproxy import render_agent_reply, render_unknown
from healthgauge.health._state import TargetState

log = logging.getLogger("healthgauge.agent.haproxy")

#: How long to wait for ``agent-send``, in seconds. HAProxy writes it right after connecting, so
#: it arrives within a network round trip; without it we must still answer well inside HAProxy's
#: agent timeout (``timeout check``, else ``agent-inter``: 2 s by default, 100-500 ms in tight
#: setups). 100 ms covers a cross-region round trip and is a fifth of the tightest usual interval.
READ_DEADLINE = 0.1

#: Connections served at once. HAProxy opens one per server per ``agent-inter``: a thousand
#: servers polled every 2 s make ~500 a second, each open for well under ``READ_DEADLINE``. Past
#: the cap a connection is answered at once, without waiting for its ``agent-send``
#: (``Overflow.ANSWER``), so the agent's memory and file descriptors stay bounded and still no one
#: is left without a line.
MAX_CONNECTIONS = 512

#: Distinct unknown names logged; after that they are only counted (a misconfigured fleet must
#: not flood the log).
MAX_LOGGED_UNKNOWN = 64

NO_DEFAULT = "agent-send named no target and no haproxy_default is configured"


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentCheckStatistics:
    """Counters since start: ``connections`` accepted, ``replies`` written, requests that sent
    ``nothing`` before the deadline, ``unknown`` names, ``overflow`` connections answered without
    reading, ``errors`` (peers gone before the reply, internal faults), ``active`` right now."""

    connections: int
    replies: int
    nothing: int
    unknown: int
    overflow: int
    errors: int
    active: int


class AgentCheckServer:
    """Answers HAProxy agent checks from a :class:`StateHub`, on the one agent-check listener."""

    def __init__(
        self,
        hub: StateHub,
        *,
        default: str = "",
        read_deadline: float = READ_DEADLINE,
        max_connections: int = MAX_CONNECTIONS,
    ) -> None:
        self._hub = hub
        self._default = default or (hub.names[0] if len(hub.names) == 1 else "")
        self._listener = AgentCheckListener(
            self.answer,
            reads_request=True,
            overflow=Overflow.ANSWER,
            max_connections=max_connections,
            read_deadline=read_deadline,
        )
        self._logged_unknown: set[str] = set()
        self._unknown = 0
        # The last reply per target, with the state it was rendered from: states are immutable and
        # replaced on every change, so while a target's state is the same object so is its reply.
        self._replies: dict[str, tuple[TargetState, bytes]] = {}

    @property
    def addresses(self) -> list[str]:
        return self._listener.addresses

    async def start(self, address: Address) -> None:
        await self._listener.start(address.host, address.port)

    async def close(self) -> None:
        await self._listener.close()

    def reconfigure(self, config: Config) -> None:
        """The default target after a reload (each target's spec is the hub's)."""
        names = [t.name for t in config.targets]
        self._default = config.agent.haproxy_default or (names[0] if len(names) == 1 else "")

    def statistics(self) -> AgentCheckStatistics:
        return AgentCheckStatistics(**dataclasses.asdict(self._listener.statistics()), unknown=self._unknown)

    def answer(self, request: bytes) -> bytes:
        """The reply line for what HAProxy sent (``b""`` when it sent nothing)."""
        name = parse_request(request) or self._default
        state = self._hub.get(name)
        if state is None:
            self._unknown += 1
            self._log_unknown(name)
            return render_unknown(name) if name else down_line(NO_DEFAULT)
        last = self._replies.get(name)
        if last is not None and last[0] is state:
            return last[1]
        reply = render_agent_reply(state, self._hub.spec(name))
        self._replies[name] = (state, reply)
        return reply

    def _log_unknown(self, name: str) -> None:
        if name not in self._logged_unknown and len(self._logged_unknown) < MAX_LOGGED_UNKNOWN:
            self._logged_unknown.add(name)
            log.warning("HAProxy asked for %r, which names no target; answering down", name)


async def serve(address: Address, hub: StateHub, config: Config) -> AgentCheckServer:
    """Start the listener for ``[agent] haproxy_listen`` (the agent's listener registry calls this)."""
    cap = connection_cap(2 + len(config.agent.listeners), len(config.targets))
    server = AgentCheckServer(hub, default=config.agent.haproxy_default, max_connections=min(MAX_CONNECTIONS, cap))
    await server.start(address)
    log.info("HAProxy agent-check on %s", ", ".join(server.addresses))
    return server
