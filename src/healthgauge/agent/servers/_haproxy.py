"""The HAProxy agent-check listener (``haproxy_listen`` under ``[agent]``; consumers.md §3).

HAProxy opens a new TCP connection every ``agent-inter``, may write its ``agent-send`` string, and
reads one line back. This server only moves bytes: it reads what HAProxy sent (a target name) with
a short deadline, looks the target up in the state hub and writes
:func:`healthgauge.health.render_agent_reply`'s line.

Rules it keeps (§3.1, §3.3, §3.5):

- **Never silent.** HAProxy freezes the last state when an agent goes quiet, so every accepted
  connection gets a line: an unknown name, a full house or an internal error all answer ``down``
  with a reason (fail closed), never nothing.
- **Never block on ``agent-send``.** It is optional; when nothing arrives within `READ_DEADLINE`
  the reply is for the default target (``haproxy_default``, or the only target).
- **Concurrent.** One agent answers many servers and load balancers at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

from healthgauge.agent._config import Address, Config
from healthgauge.agent.state._hub import StateHub
from healthgauge.health._haproxy import MAX_REQUEST, parse_request, render_agent_reply, render_unknown, sanitize_reason

log = logging.getLogger("healthgauge.agent.haproxy")

#: How long to wait for ``agent-send``, in seconds. HAProxy writes it right after connecting, so
#: it arrives within a network round trip; without it we must still answer well inside HAProxy's
#: agent timeout (``timeout check``, else ``agent-inter``: 2 s by default, 100-500 ms in tight
#: setups). 100 ms covers a cross-region round trip and is a fifth of the tightest usual interval.
READ_DEADLINE = 0.1

#: How long a reply may take to leave, in seconds. The reply is a few dozen bytes; a peer that
#: cannot take them in this time is gone.
WRITE_DEADLINE = 1.0

#: Connections served at once. HAProxy opens one per server per ``agent-inter``: a thousand
#: servers polled every 2 s make ~500 a second, each open for well under ``READ_DEADLINE``. Past
#: the cap a connection is answered at once, without waiting for its ``agent-send``, so the
#: agent's memory and file descriptors stay bounded and still no one is left without a line.
MAX_CONNECTIONS = 512

#: Distinct unknown names logged; after that they are only counted (a misconfigured fleet must
#: not flood the log).
MAX_LOGGED_UNKNOWN = 64


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
    """Answers HAProxy agent checks from a :class:`StateHub`."""

    def __init__(
        self,
        hub: StateHub,
        *,
        default: str = "",
        limits_maxconn: frozenset[str] = frozenset(),
        read_deadline: float = READ_DEADLINE,
        max_connections: int = MAX_CONNECTIONS,
    ) -> None:
        self._hub = hub
        self._default = default or (hub.names[0] if len(hub.names) == 1 else "")
        self._limits_maxconn = limits_maxconn
        self._read_deadline = read_deadline
        self._max_connections = max_connections
        self._server: asyncio.Server | None = None
        self._logged_unknown: set[str] = set()
        self._counts = dict.fromkeys(("connections", "replies", "nothing", "unknown", "overflow", "errors"), 0)
        self._active = 0

    @property
    def addresses(self) -> list[str]:
        if self._server is None:
            return []
        out = []
        for sock in self._server.sockets:
            host, port = sock.getsockname()[:2]
            out.append(f"[{host}]:{port}" if ":" in host else f"{host}:{port}")
        return out

    async def start(self, address: Address) -> None:
        self._server = await asyncio.start_server(self._handle, address.host, address.port, reuse_address=True)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), self._read_deadline + WRITE_DEADLINE)

    def reconfigure(self, config: Config) -> None:
        """The targets after a reload: which have a maxconn rule, and the default target."""
        self._limits_maxconn = frozenset(t.name for t in config.targets if t.maxconn is not None)
        names = [t.name for t in config.targets]
        self._default = config.agent.haproxy_default or (names[0] if len(names) == 1 else "")

    def statistics(self) -> AgentCheckStatistics:
        return AgentCheckStatistics(**self._counts, active=self._active)

    def answer(self, request: bytes) -> bytes:
        """The reply line for what HAProxy sent (``b""`` when it sent nothing)."""
        name = parse_request(request) or self._default
        state = self._hub.get(name)
        if state is None:
            self._counts["unknown"] += 1
            self._log_unknown(name)
            if not name:
                return b"down #agent-send named no target and no haproxy_default is configured\n"
            return render_unknown(name)
        return render_agent_reply(state, limits_maxconn=name in self._limits_maxconn)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._counts["connections"] += 1
        self._active += 1
        try:
            if self._active > self._max_connections:
                self._counts["overflow"] += 1
                request = b""
            else:
                request = await self._read(reader)
            try:
                reply = self.answer(request)
            except Exception as exc:  # never silent, even on our own fault: fail closed
                log.exception("agent-check reply failed")
                self._counts["errors"] += 1
                reply = ("down #healthgauge internal error: " + sanitize_reason(repr(exc)) + "\n").encode("ascii")
            writer.write(reply)
            await asyncio.wait_for(writer.drain(), WRITE_DEADLINE)
            self._counts["replies"] += 1
        except (OSError, TimeoutError):
            self._counts["errors"] += 1  # the peer went away first; nothing is left to tell it
        finally:
            self._active -= 1
            writer.close()
            with contextlib.suppress(OSError, TimeoutError):
                await asyncio.wait_for(writer.wait_closed(), WRITE_DEADLINE)

    async def _read(self, reader: asyncio.StreamReader) -> bytes:
        """What HAProxy sent, up to a newline, `MAX_REQUEST` bytes, its close or the deadline."""
        data = b""
        try:
            async with asyncio.timeout(self._read_deadline):
                while b"\n" not in data and b"\r" not in data and len(data) < MAX_REQUEST:
                    chunk = await reader.read(MAX_REQUEST - len(data))
                    if not chunk:
                        break
                    data += chunk
        except TimeoutError:
            pass
        if not data:
            self._counts["nothing"] += 1
        return data

    def _log_unknown(self, name: str) -> None:
        if name not in self._logged_unknown and len(self._logged_unknown) < MAX_LOGGED_UNKNOWN:
            self._logged_unknown.add(name)
            log.warning("HAProxy asked for %r, which names no target; answering down", name)


async def serve(address: Address, hub: StateHub, config: Config) -> AgentCheckServer:
    """Start the listener for ``[agent] haproxy_listen`` (the agent's listener registry calls this)."""
    server = AgentCheckServer(
        hub,
        default=config.agent.haproxy_default,
        limits_maxconn=frozenset(t.name for t in config.targets if t.maxconn is not None),
    )
    await server.start(address)
    log.info("HAProxy agent-check on %s", ", ".join(server.addresses))
    return server
