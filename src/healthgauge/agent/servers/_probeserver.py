"""A small HTTP/1.1 server for the probe endpoints: GET and HEAD, keep-alive, pipelining.

Why not aiohttp here (it serves the admin listener and scrapes the targets): a probe is the
agent's hot path, answered from cached state in about 5 us of Python, and aiohttp's request
machinery costs 1.2-1.9x the CPU of this server per probe, kernel included (134-157 vs 70-123 us
at 2000 probes/s, side by side on the same loaded machine; bench/probe_server.py prints both).
What a probe needs is small and fixed, so the server implements exactly that, strictly:

- requests are read with limits (:data:`MAX_HEAD` bytes of request line and headers, else 431)
  and a deadline (:data:`HEAD_TIMEOUT` from the first byte, else the connection is closed);
- only GET and HEAD (405 otherwise); a request with a body is refused (400) and the connection
  closed, since the body's end cannot be trusted;
- HTTP/1.1 keeps the connection open unless ``Connection: close``; HTTP/1.0 closes unless
  ``Connection: keep-alive``; idle connections close after :data:`IDLE_TIMEOUT` (Envoy keeps its
  health-check connection open; consumers.md §4.5);
- pipelined requests are answered in order, one at a time;
- a client that resets the connection after its answer (HAProxy, §3.6) is simply gone;
- bounded against hostile clients: at most ``max_connections`` at once (a new one past the cap
  sheds the oldest idle connection, or is closed when none is idle; a connection whose request
  is already in the kernel's buffer, unread, is not idle); a client that pipelines
  requests and does not read its answers stops being read once its answers fill the transport's
  buffer (write backpressure), and at most :data:`BATCH` pipelined requests are answered before
  the loop serves others.

Handlers return ``(status, headers, body)`` from the pure renderers; a handler may be async
(``/metrics`` builds its page in a thread), and the connection waits for it before reading on.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import struct
import termios
import time
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from urllib.parse import unquote

from healthgauge.agent.servers._resources import MAX_LISTENER_CONNECTIONS
from healthgauge.health._http import Response
from healthgauge.http._listen import ACCEPT_BATCH, widen_backlog

log = logging.getLogger("healthgauge.agent")

# Request line plus headers. 8 KiB is what nginx (large_client_header_buffers), Apache
# (LimitRequestLine) and aiohttp (max_line_size) allow; a probe sends about 100 bytes.
MAX_HEAD = 8192
# From a request's first byte to its last header byte: kubelet's whole probe has 1 s by default,
# so a client slower than this is not a probe (slowloris).
HEAD_TIMEOUT = 10.0
# An idle keep-alive connection closes after this long (aiohttp's and nginx's default is 75 s).
IDLE_TIMEOUT = 75.0
# How often deadlines are checked, in seconds: each connection only notes its deadline (a float),
# and one sweep closes the late ones, instead of a timer armed and cancelled per request (which
# cost half the Python time of a probe and churned the event loop's timer heap, which every
# scrape's timers share). Deadlines are therefore kept to within this much.
SWEEP_INTERVAL = 1.0
# Pipelined requests answered in one go before other connections get the loop: a probe costs
# ~5-10 us, so a 256 KiB read of pipelined requests (~2,500) would otherwise hold it for ~20 ms.
BATCH = 32
# Answers a connection may have waiting in its transport before it stops being read: asyncio's
# default high-water mark (64 KiB) is ~300 probe answers.
WRITE_HIGH_WATER = 64 * 1024
# Idle connections looked at, oldest first, for one to shed when a new one arrives at the cap.
SHED_SCAN = 64

Handler = Callable[[str, str], "Response | Awaitable[Response]"]

_REASONS = {status.value: status.phrase for status in HTTPStatus}
_TEXT = (("Content-Type", "text/plain; charset=utf-8"),)


def _error(status: int, text: str) -> Response:
    return status, _TEXT, f"{text}\n".encode()


class _Request:
    __slots__ = ("close", "head", "method", "target")

    def __init__(self, method: str, target: str, *, close: bool, head: bool) -> None:
        self.method = method
        self.target = target
        self.close = close
        self.head = head


def parse_head(data: bytes) -> _Request | Response:
    """One request's line and headers (without the blank line) -> a request, or the error answer."""
    try:
        text = data.decode("latin-1")
    except UnicodeDecodeError:  # pragma: no cover - latin-1 decodes every byte
        return _error(400, "bad request")
    line, _, rest = text.partition("\r\n")
    parts = line.split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1.") or not parts[1]:
        return _error(400, f"bad request line: {line[:80]!r}")
    method, target, version = parts
    keep_alive = version == "HTTP/1.1"
    for header in rest.split("\r\n") if rest else ():
        name, sep, value = header.partition(":")
        if not sep or not name or name != name.strip():
            return _error(400, f"bad header line: {header[:80]!r}")
        name = name.lower()
        value = value.strip()
        if name == "connection":
            tokens = {t.strip().lower() for t in value.split(",")}
            keep_alive = "keep-alive" in tokens if version == "HTTP/1.0" else "close" not in tokens
        elif (name == "content-length" and value != "0") or name == "transfer-encoding":
            return _error(400, "a request body is not accepted here")
    if method not in ("GET", "HEAD"):
        return 405, (*_TEXT, ("Allow", "GET, HEAD")), b"only GET and HEAD\n"
    if not target.startswith("/"):
        # absolute-form (RFC 9112 §3.2.2): keep the path and query only
        scheme, sep, rest_of = target.partition("://")
        if not sep or scheme.lower() not in ("http", "https"):
            return _error(400, f"bad request target: {target[:80]!r}")
        target = "/" + rest_of.partition("/")[2]
    return _Request(method, target, close=not keep_alive, head=method == "HEAD")


def render_response(response: Response, *, close: bool, head: bool) -> bytes:
    status, headers, body = response
    lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Unknown')}"]
    lines += [f"{name}: {value}" for name, value in headers]
    lines.append(f"Content-Length: {len(body)}")
    if close:
        lines.append("Connection: close")
    head_bytes = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return head_bytes if head else head_bytes + body


class _Connection(asyncio.Protocol):
    def __init__(self, server: ProbeServer) -> None:
        self.server = server
        self.transport: asyncio.Transport | None = None
        self.buffer = b""
        self.busy = False  # an async handler is running: hold further requests
        self.blocked = False  # the peer is not reading its answers: hold further requests
        self.yielded = False  # a batch of pipelined requests was answered: others go first
        self.deadline = 0.0  # loop time after which the sweep closes the connection (unless busy)

    @property
    def idle(self) -> bool:
        return not self.buffer and not self.busy and not self.blocked

    def sheddable(self) -> bool:
        """Idle, and nothing unread in the kernel either. asyncio accepts a batch of connections
        (:data:`ACCEPT_BATCH`) and makes them all before reading any: a probe whose request is
        already in its receive buffer looks idle until then, and closing a socket with unread
        bytes resets it (RST), which the prober sees as a failed probe."""
        if not self.idle or self.transport is None:
            return False
        sock = self.transport.get_extra_info("socket")
        if sock is None:
            return True
        try:
            unread: int = struct.unpack("i", fcntl.ioctl(sock.fileno(), termios.FIONREAD, b"\0\0\0\0"))[0]
        except OSError:
            return True  # closed under us: nothing to protect
        return unread == 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.set_write_buffer_limits(high=WRITE_HIGH_WATER)
        if not self.server.admit(self):
            transport.abort()
            self.transport = None
            return
        self._arm(IDLE_TIMEOUT)

    def connection_lost(self, exc: Exception | None) -> None:
        self.server.connections.pop(self, None)
        self.transport = None

    def pause_writing(self) -> None:
        self.blocked = True
        self._reading()

    def resume_writing(self) -> None:
        self.blocked = False
        self._reading()
        self._serve()

    def _reading(self) -> None:
        """Read while nothing holds this connection back: an async answer, a peer that does not
        read, or a batch's turn given to others."""
        if self.transport is None:
            return
        if self.busy or self.blocked or self.yielded:
            self.transport.pause_reading()
        else:
            self.transport.resume_reading()

    def _next_batch(self) -> None:
        self.yielded = False
        self._reading()
        self._serve()

    def data_received(self, data: bytes) -> None:
        if not self.buffer:
            self._arm(HEAD_TIMEOUT)  # a request has started: it has HEAD_TIMEOUT to finish
        self.buffer += data
        self.server.touch(self)
        self._serve()

    def _serve(self) -> None:
        buffer, pos, served = self.buffer, 0, 0
        try:
            while self.transport is not None and not self.busy and not self.blocked and not self.yielded:
                if served == BATCH and pos < len(buffer):
                    self.yielded = True
                    self._reading()
                    asyncio.get_running_loop().call_soon(self._next_batch)
                    return
                served += 1
                end = buffer.find(b"\r\n\r\n", pos)
                if end < 0:
                    if len(buffer) - pos > MAX_HEAD:
                        self._send(_error(431, "request header fields too large"), close=True, head=False)
                    break
                if end - pos > MAX_HEAD:
                    self._send(_error(431, "request header fields too large"), close=True, head=False)
                    return
                head, pos = buffer[pos:end], end + 4
                if pos < len(buffer):
                    self._arm(HEAD_TIMEOUT)  # the next pipelined request's deadline starts now
                request = parse_head(head)
                if not isinstance(request, _Request):
                    self._send(request, close=True, head=False)
                    return
                self._dispatch(request)
        finally:
            # Cut once, not per request: a read of pipelined requests would be copied per request.
            self.buffer = buffer[pos:] if pos else buffer
        if self.transport is not None and not self.buffer and not self.busy:
            self._arm(IDLE_TIMEOUT)  # answered everything: now idle (a partial request keeps its deadline)

    def _dispatch(self, request: _Request) -> None:
        path, _, query = request.target.partition("?")
        try:
            answer = self.server.handler(unquote(path), query)
        except Exception:
            log.exception("probe handler failed for %s", request.target)
            answer = _error(500, "internal error")
        if isinstance(answer, tuple):
            self._send(answer, close=request.close, head=request.head)
            return
        self.busy = True
        self._reading()  # pipelined requests wait in the kernel, not here
        task = asyncio.ensure_future(answer)
        task.add_done_callback(lambda t: self._finish(t, request))

    def _finish(self, task: asyncio.Future[Response], request: _Request) -> None:
        self.busy = False
        if task.cancelled() or self.transport is None:
            return
        self._reading()
        exc = task.exception()
        if exc is not None:
            log.error("probe handler failed for %s: %r", request.target, exc)
        answer = _error(500, "internal error") if exc is not None else task.result()
        self._send(answer, close=request.close, head=request.head)
        self._serve()

    def _send(self, response: Response, *, close: bool, head: bool) -> None:
        if self.transport is None:
            return
        self.transport.write(render_response(response, close=close, head=head))
        if close:
            self.transport.close()
            self.transport = None

    def _arm(self, seconds: float) -> None:
        self.deadline = self.server.clock() + seconds

    def expire(self, now: float) -> None:
        """Close the connection when its deadline has passed (and no answer is being made)."""
        if self.transport is not None and not self.busy and now >= self.deadline:
            if self.blocked:
                self.transport.abort()  # its unread answers would hold close() forever
            else:
                self.transport.close()


class ProbeServer:
    """Serve ``handler(path, query)`` on a TCP address; :meth:`start` returns ``host:port``.

    ``connections`` is kept oldest activity first, so the connection shed at the cap is the one
    idle longest."""

    def __init__(self, handler: Handler, *, max_connections: int = MAX_LISTENER_CONNECTIONS) -> None:
        self.handler = handler
        self.max_connections = max_connections
        self.connections: dict[_Connection, None] = {}
        self.shed = 0  # idle connections closed to make room for new ones
        self.refused = 0  # new connections closed at the cap (none was idle)
        self._server: asyncio.Server | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self.clock: Callable[[], float] = time.monotonic  # the loop's clock once started

    def admit(self, connection: _Connection) -> bool:
        """Make room for a new connection: past the cap, close the oldest idle one (nothing
        buffered, nothing unread in the kernel); False when every connection looked at is in the
        middle of a request."""
        connections = self.connections
        if len(connections) >= self.max_connections:
            oldest = zip(connections, range(SHED_SCAN), strict=False)
            victim = next((c for c, _ in oldest if c.sheddable()), None)
            if victim is None:
                self.refused += 1
                return False
            self.shed += 1
            connections.pop(victim, None)
            if victim.transport is not None:
                victim.transport.close()
        connections[connection] = None
        return True

    def touch(self, connection: _Connection) -> None:
        """The connection was active: it goes to the end of the shedding order."""
        connections = self.connections
        if connections.pop(connection, 0) is None:
            connections[connection] = None

    async def start(self, host: str, port: int) -> str:
        loop = asyncio.get_running_loop()
        self.clock = loop.time
        self._server = await loop.create_server(
            lambda: _Connection(self), host, port, reuse_address=True, backlog=ACCEPT_BATCH
        )
        widen_backlog(self._server.sockets)
        self._sweeper = asyncio.create_task(self._sweep(), name="probe server deadlines")
        bound_host, bound_port = self._server.sockets[0].getsockname()[:2]
        return f"[{bound_host}]:{bound_port}" if ":" in bound_host else f"{bound_host}:{bound_port}"

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_INTERVAL)
            now = self.clock()
            for connection in list(self.connections):
                connection.expire(now)

    async def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        if self._server is None:
            return
        self._server.close()
        for connection in list(self.connections):
            if connection.transport is not None:
                connection.transport.close()
        await self._server.wait_closed()
        self._server = None
