"""Loopback servers that stand in for the services behind a load balancer.

- `Backend`: a threaded HTTP/1.1 server that answers 200 with its own name and counts requests.
  Threaded because Envoy keeps its health-check connection open (consumers.md §4.5), and tolerant
  of the TCP RST HAProxy closes its checks with (§3.6).
- `LineAgent`: a minimal HAProxy agent-check that answers every connection with a settable line,
  for testing the HAProxy harness itself before healthgauge's own listener is involved.
"""

from __future__ import annotations

import collections
import contextlib
import socket
import socketserver
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self


class _Served:
    """Runs ``self._server`` (set by the subclass) in a thread between ``__enter__`` and ``__exit__``."""

    _server: socketserver.BaseServer

    def __enter__(self) -> Self:
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


class _QuietHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body leave in two writes: without TCP_NODELAY, Nagle plus the peer's delayed
    # ACK add ~40 ms to every keep-alive request (seen through Envoy).
    disable_nagle_algorithm = True
    server: _CountingServer

    def do_GET(self) -> None:
        body = self.server.name.encode() + b"\n"
        self.server.record(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        return

    def handle(self) -> None:
        # HAProxy resets its check connections; that is the end of a conversation, not an error.
        with contextlib.suppress(ConnectionResetError, BrokenPipeError):
            super().handle()


class _CountingServer(ThreadingHTTPServer):
    daemon_threads = True
    name = ""

    def __init__(self, name: str) -> None:
        super().__init__(("127.0.0.1", 0), _QuietHandler)
        self.name = name
        self.hits: collections.Counter[str] = collections.Counter()
        self._lock = threading.Lock()

    def record(self, path: str) -> None:
        with self._lock:
            self.hits[path] += 1

    def handle_error(self, request: object, client_address: object) -> None:
        return


class Backend(_Served):
    """An HTTP backend on 127.0.0.1:0; use as a context manager. ``hits[path]`` counts requests."""

    def __init__(self, name: str) -> None:
        self._server = _CountingServer(name)
        self.port = int(self._server.server_address[1])
        self.name = name

    @property
    def hits(self) -> collections.Counter[str]:
        return self._server.hits


@contextlib.contextmanager
def backends(*names: str) -> Iterator[list[Backend]]:
    with contextlib.ExitStack() as stack:
        yield [stack.enter_context(Backend(name)) for name in names]


class _LineHandler(socketserver.BaseRequestHandler):
    server: _LineServer

    def handle(self) -> None:
        sock: socket.socket = self.request
        # Shorter than any agent-inter the tests use: HAProxy times the agent out after agent-inter.
        sock.settimeout(0.05)
        try:
            received = sock.recv(1024)
        except OSError:
            received = b""
        self.server.received.append(received)
        with contextlib.suppress(OSError):
            sock.sendall(self.server.line)


class _LineServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, line: bytes) -> None:
        super().__init__(("127.0.0.1", 0), _LineHandler)
        self.line = line
        self.received: list[bytes] = []


class LineAgent(_Served):
    """Answers each TCP connection with ``line`` (bytes, sent as is); records what the peer sent."""

    def __init__(self, line: bytes = b"up ready 100%\n") -> None:
        self._server = _LineServer(line)
        self.port = int(self._server.server_address[1])

    @property
    def line(self) -> bytes:
        return self._server.line

    @line.setter
    def line(self, value: bytes) -> None:
        self._server.line = value

    @property
    def received(self) -> list[bytes]:
        return self._server.received


class _ReplyHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body leave in two writes: without TCP_NODELAY, Nagle plus the peer's delayed
    # ACK add ~40 ms to every keep-alive request (seen through Envoy).
    disable_nagle_algorithm = True
    server: _ReplyServer

    def do_GET(self) -> None:
        status, headers = self.server.reply
        self.server.seen += 1
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        return

    def handle(self) -> None:
        with contextlib.suppress(ConnectionResetError, BrokenPipeError):
            super().handle()


class _ReplyServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _ReplyHandler)
        self.reply: tuple[int, dict[str, str]] = (200, {})
        self.seen = 0

    def handle_error(self, request: object, client_address: object) -> None:
        return


class ReplyEndpoint(_Served):
    """An HTTP endpoint whose every answer is the settable ``reply`` = (status, headers)."""

    def __init__(self) -> None:
        self._server = _ReplyServer()
        self.port = int(self._server.server_address[1])

    @property
    def reply(self) -> tuple[int, dict[str, str]]:
        return self._server.reply

    @reply.setter
    def reply(self, value: tuple[int, dict[str, str]]) -> None:
        self._server.reply = value

    @property
    def seen(self) -> int:
        return self._server.seen


class _MetricsHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body leave in two writes: without TCP_NODELAY, Nagle plus the peer's delayed
    # ACK add ~40 ms to every keep-alive request (seen through Envoy).
    disable_nagle_algorithm = True
    server: _MetricsServer

    def do_GET(self) -> None:
        body = self.server.page.encode()
        self.server.scrapes += 1
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        return


class _MetricsServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, page: str) -> None:
        super().__init__(("127.0.0.1", 0), _MetricsHandler)
        self.page = page
        self.scrapes = 0

    def handle_error(self, request: object, client_address: object) -> None:
        return


class MetricsTarget(_Served):
    """A service's /metrics page on 127.0.0.1:0 whose values the test sets, as Prometheus text:
    ``target.set(app_state=1, weight_hint=50)``. The agent scrapes it like any service."""

    def __init__(self, **values: float) -> None:
        self.values: dict[str, float] = dict(values)
        self._server = _MetricsServer(self._render())
        self.port = int(self._server.server_address[1])
        self.url = f"http://127.0.0.1:{self.port}/metrics"

    def set(self, **values: float) -> None:
        self.values.update(values)
        self._server.page = self._render()

    @property
    def scrapes(self) -> int:
        return self._server.scrapes

    def _render(self) -> str:
        lines = []
        for name, value in self.values.items():
            lines += [f"# TYPE {name} gauge", f"{name} {value:g}"]
        return "\n".join(lines) + "\n"
