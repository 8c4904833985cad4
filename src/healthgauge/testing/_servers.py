"""Loopback HTTP servers that serve metrics pages, or misbehave on purpose, for tests and benchmarks.

Each server binds 127.0.0.1 on port 0, runs its accept loop and connections on threads, and is a
context manager: leaving the ``with`` block stops every thread and closes every socket, even
connections a test left hanging. Each one answers the question a probe must survive:

- ``MetricsServer``: a page, fast (plain, gzip or chunked; replaceable while running);
- ``HangingServer``: accepts and never answers (a wedged process);
- ``DripServer``: answers one byte at a time (a read deadline must cover the whole read);
- ``StatusServer``: any status, e.g. 404 or 503;
- ``RedirectServer``: a chain of same-host redirects, or one to any Location (another host);
- ``GzipBombServer``: a small gzip body that inflates far past any sane cap;
- ``HugeBodyServer``: an endless (by default 100 MB) body, with or without Content-Length.

Not on the check path: the standard library is used freely here.
"""

from __future__ import annotations

import functools
import socket
import ssl
import threading
import zlib
from collections.abc import Callable, Iterable, Sequence
from typing import Self

TEXT_FORMAT = "text/plain; version=0.0.4; charset=utf-8"
OPENMETRICS_FORMAT = "application/openmetrics-text; version=1.0.0; charset=utf-8"
_REASONS = {
    200: "OK",
    301: "Moved Permanently",
    302: "Found",
    307: "Temporary Redirect",
    308: "Permanent Redirect",
    400: "Bad Request",
    404: "Not Found",
    500: "Internal Server Error",
    503: "Service Unavailable",
}
# A request head larger than this, or slower than this, ends the connection: tests stay bounded.
_MAX_REQUEST = 64 * 1024
_REQUEST_TIMEOUT = 5.0


class Request:
    """A request as a server saw it: method, target and headers (lower-case names)."""

    __slots__ = ("headers", "method", "target")

    def __init__(self, method: str, target: str, headers: dict[str, str]) -> None:
        self.method = method
        self.target = target
        self.headers = headers

    def __repr__(self) -> str:
        return f"Request({self.method} {self.target})"


class LoopbackServer:
    """Accepts on 127.0.0.1:<free port> and hands each connection to ``handle`` on its own thread.

    Subclasses implement ``handle(conn, request)``; ``request`` is None when the client sent no
    complete request head. ``requests`` records every request seen, for assertions.
    """

    path = "/metrics"
    # Set before ``start`` to serve https (e.g. ``ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)``
    # with a certificate loaded).
    tls: ssl.SSLContext | None = None

    def __init__(self) -> None:
        self._listener: socket.socket | None = None
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._conns: set[socket.socket] = set()
        self.requests: list[Request] = []
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"{self.base_url}{self.path}"

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        listener.listen(128)
        self._listener = listener
        self.port = listener.getsockname()[1]
        self._spawn(self._accept_loop)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop accepting, cut every open connection and join every thread (each within ``timeout``)."""
        if self._listener is None:
            return
        self._stopping.set()
        try:  # wake the accept loop
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
        except OSError:
            pass
        with self._lock:
            conns = list(self._conns)
        for conn in conns:
            _shutdown(conn)
        for thread in list(self._threads):
            thread.join(timeout)
        self._listener.close()
        self._listener = None

    def handle(self, conn: socket.socket, request: Request | None) -> None:
        raise NotImplementedError

    def sleep(self, seconds: float) -> bool:
        """Wait ``seconds`` unless the server stops first; True while it keeps running."""
        return not self._stopping.wait(seconds)

    def _spawn(self, target: Callable[..., None], *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()]
            self._threads.append(thread)
        thread.start()

    def _accept_loop(self) -> None:
        assert self._listener is not None
        while not self._stopping.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            if self._stopping.is_set():
                conn.close()
                return
            with self._lock:
                self._conns.add(conn)
            self._spawn(self._serve, conn)

    def _serve(self, conn: socket.socket) -> None:
        try:
            if self.tls is not None:
                conn = self._handshake(conn, self.tls)
            request = self._read_request(conn)
            if request is not None:
                with self._lock:
                    self.requests.append(request)
            self.handle(conn, request)
        except OSError:
            pass  # the client went away (a probe that hit its deadline or cap does)
        finally:
            with self._lock:
                self._conns.discard(conn)
            _shutdown(conn)
            conn.close()

    def _handshake(self, conn: socket.socket, context: ssl.SSLContext) -> socket.socket:
        conn.settimeout(_REQUEST_TIMEOUT)
        with self._lock:
            self._conns.discard(conn)
        wrapped = context.wrap_socket(conn, server_side=True)
        with self._lock:
            self._conns.add(wrapped)
        return wrapped

    def _read_request(self, conn: socket.socket) -> Request | None:
        conn.settimeout(_REQUEST_TIMEOUT)
        data = b""
        while b"\r\n\r\n" not in data and b"\n\n" not in data:
            chunk = conn.recv(65536)
            if not chunk or len(data) > _MAX_REQUEST:
                return None
            if not data and chunk[:1] == b"\x16":  # a TLS ClientHello to a plain server, as Go's net/http answers
                conn.sendall(response_head(400, [("Content-Length", "0"), ("Connection", "close")]))
                return None
            data += chunk
        conn.settimeout(None)
        lines = data.split(b"\r\n\r\n")[0].decode("latin-1").splitlines()
        method, _, rest = lines[0].partition(" ")
        target = rest.rpartition(" ")[0]
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        return Request(method, target, headers)


def _shutdown(conn: socket.socket) -> None:
    try:
        conn.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


def response_head(status: int, headers: Iterable[tuple[str, str]] = ()) -> bytes:
    """``HTTP/1.1 <status> <reason>`` and the headers, ending with the empty line."""
    lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}", *(f"{k}: {v}" for k, v in headers), "", ""]
    return "\r\n".join(lines).encode("latin-1")


def chunked(body: bytes, size: int = 4096) -> bytes:
    """``body`` in HTTP/1.1 chunked framing, ``size`` bytes a chunk, with the final empty chunk."""
    parts = [b"%x\r\n%s\r\n" % (len(body[i : i + size]), body[i : i + size]) for i in range(0, len(body), size)]
    return b"".join(parts) + b"0\r\n\r\n"


def _encode(page: bytes | str) -> bytes:
    return page.encode() if isinstance(page, str) else page


class MetricsServer(LoopbackServer):
    """Serves one page at any path, quickly: the endpoint a probe or a benchmark reads.

    ``gzip`` compresses it when the client accepts gzip; ``chunked`` sends it with chunked framing
    instead of Content-Length. Assign ``page`` to change what later requests get.
    """

    def __init__(
        self,
        page: bytes | str,
        *,
        content_type: str = TEXT_FORMAT,
        gzip: bool = False,
        chunked: bool = False,
        status: int = 200,
        headers: Sequence[tuple[str, str]] = (),
        tls: ssl.SSLContext | None = None,
    ) -> None:
        super().__init__()
        self.tls = tls
        self.content_type = content_type
        self.gzip = gzip
        self.chunked = chunked
        self.status = status
        self.headers = list(headers)
        self.page = page

    @property
    def page(self) -> bytes:
        return self._page

    @page.setter
    def page(self, page: bytes | str) -> None:
        body = _encode(page)
        gzipped = zlib.compress(body, 6, wbits=31) if self.gzip else body
        self._page = body
        self._responses = {False: self._build(body, ""), True: self._build(gzipped, "gzip")}

    def _build(self, body: bytes, coding: str) -> bytes:
        headers = [("Content-Type", self.content_type), *self.headers, ("Connection", "close")]
        if coding:
            headers.append(("Content-Encoding", coding))
        if self.chunked:
            return response_head(self.status, [*headers, ("Transfer-Encoding", "chunked")]) + chunked(body)
        return response_head(self.status, [*headers, ("Content-Length", str(len(body)))]) + body

    def handle(self, conn: socket.socket, request: Request | None) -> None:
        if request is None:
            return
        accepts_gzip = self.gzip and "gzip" in request.headers.get("accept-encoding", "")
        conn.sendall(self._responses[accepts_gzip])


class HangingServer(LoopbackServer):
    """Accepts connections and never answers, holding them open until the server stops."""

    def _read_request(self, conn: socket.socket) -> Request | None:
        return None

    def handle(self, conn: socket.socket, request: Request | None) -> None:
        self._stopping.wait()


class DripServer(LoopbackServer):
    """Sends a whole response one byte every ``interval`` seconds: alive, yet never done in time."""

    def __init__(self, page: bytes | str = b"app_up 1\n", *, interval: float = 0.05) -> None:
        super().__init__()
        self.interval = interval
        body = _encode(page)
        self.response = response_head(200, [("Content-Type", TEXT_FORMAT), ("Content-Length", str(len(body)))]) + body

    def handle(self, conn: socket.socket, request: Request | None) -> None:
        for i in range(len(self.response)):
            conn.sendall(self.response[i : i + 1])
            if not self.sleep(self.interval):
                return


class StatusServer(LoopbackServer):
    """Answers every request with ``status`` (404 by default) and a short text body."""

    def __init__(self, status: int = 404, body: bytes | str = b"not found\n") -> None:
        super().__init__()
        self.status = status
        self.body = _encode(body)

    def handle(self, conn: socket.socket, request: Request | None) -> None:
        headers = [("Content-Type", "text/plain"), ("Content-Length", str(len(self.body)))]
        conn.sendall(response_head(self.status, headers) + self.body)


class RedirectServer(LoopbackServer):
    """A chain of ``hops`` same-host redirects ending at ``page`` (``url`` is the chain's start).

    With ``location``, every request is redirected there instead, e.g. to another host.
    """

    def __init__(
        self, page: bytes | str = b"app_up 1\n", *, hops: int = 1, location: str | None = None, status: int = 302
    ) -> None:
        super().__init__()
        self.page = _encode(page)
        self.hops = hops
        self.location = location
        self.status = status
        self.path = f"/hop/{hops}" if hops else "/metrics"

    def handle(self, conn: socket.socket, request: Request | None) -> None:
        if request is None:
            return
        if self.location is None and not request.target.startswith("/hop/"):
            headers = [("Content-Type", TEXT_FORMAT), ("Content-Length", str(len(self.page)))]
            conn.sendall(response_head(200, headers) + self.page)
            return
        if self.location is not None:
            location = self.location
        else:
            left = int(request.target.removeprefix("/hop/") or 0) - 1
            location = f"/hop/{left}" if left > 0 else "/metrics"
        conn.sendall(response_head(self.status, [("Location", location), ("Content-Length", "0")]))


@functools.cache
def gzip_bomb(inflated: int) -> bytes:
    """A gzip member of ``inflated`` zero bytes: about a thousandth of that on the wire."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = bytes(1 << 20)
    parts = [compressor.compress(block) for _ in range(inflated >> 20)]
    parts.append(compressor.compress(bytes(inflated & ((1 << 20) - 1))))
    parts.append(compressor.flush())
    return b"".join(parts)


class GzipBombServer(LoopbackServer):
    """Sends ``Content-Encoding: gzip`` with a small body that inflates to ``inflated`` bytes (64 MiB)."""

    def __init__(self, inflated: int = 64 << 20) -> None:
        super().__init__()
        self.body = gzip_bomb(inflated)

    def handle(self, conn: socket.socket, request: Request | None) -> None:
        headers = [("Content-Type", TEXT_FORMAT), ("Content-Encoding", "gzip"), ("Content-Length", str(len(self.body)))]
        conn.sendall(response_head(200, headers) + self.body)


class HugeBodyServer(LoopbackServer):
    """Streams ``size`` bytes (100 MB) of valid metric lines; by default without Content-Length, so a
    client learns the size only by reading, and must stop at its cap."""

    def __init__(self, size: int = 100_000_000, *, content_length: bool = False) -> None:
        super().__init__()
        self.size = size
        self.content_length = content_length
        self.sent = 0
        line = b'filler_metric{index="0000000"} 1\n'
        self._block = line * ((1 << 20) // len(line))

    def handle(self, conn: socket.socket, request: Request | None) -> None:
        headers = [("Content-Type", TEXT_FORMAT)]
        if self.content_length:
            headers.append(("Content-Length", str(self.size)))
        conn.sendall(response_head(200, headers))
        left = self.size
        while left > 0 and not self._stopping.is_set():
            piece = self._block[:left]
            conn.sendall(piece)
            left -= len(piece)
            self.sent += len(piece)
