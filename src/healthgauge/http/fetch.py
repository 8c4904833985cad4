"""A lean HTTP/1.1 GET for metrics pages: one deadline, size caps, gzip, TLS on demand.

``healthgauge check`` runs in about the time Python takes to start, so this client speaks HTTP/1.1
over ``_socket`` (``socket`` costs ~13 ms to import, ``http.client`` ~44 ms): the protocol is parsed
by the pure ``healthgauge.http._http11`` and ``healthgauge.http._url``, and this module only moves bytes.
``ssl`` is imported only for https, ``zlib`` only for a gzip body.

One deadline covers everything a probe waits for: name resolution, connect, TLS handshake, send and
the whole read (headers and body), across redirects. A server that accepts and never answers, or
that drips a byte at a time, is cut off when the deadline passes, as a Kubernetes probe timeout is.

Errors form one tree (``FetchError`` and its subclasses, drawn in ``healthgauge.http._http11``); every
message names the URL and what failed.
"""

from __future__ import annotations

import _socket
from time import monotonic

# What Prometheus 2.42 asks a target for, so the page we judge is the page Prometheus scrapes.
from healthgauge.exposition._content import ACCEPT
from healthgauge.http._flow import MAX_REDIRECTS, GetFlow, connect_error, handshake_error, os_reason, tls_context
from healthgauge.http._http11 import (
    MAX_BODY,
    ConnectError,
    DeadlineError,
    FetchError,
    ProtocolError,
    RedirectError,
    RequestError,
    ResolveError,
    ResponseParser,
    StatusError,
    TLSError,
    TooLargeError,
    decode_body,
)
from healthgauge.http._url import URL, build_request, parse_url

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

__all__ = [
    "ACCEPT",
    "MAX_BODY",
    "MAX_REDIRECTS",
    "URL",
    "ConnectError",
    "DeadlineError",
    "FetchError",
    "ProtocolError",
    "RedirectError",
    "RequestError",
    "ResolveError",
    "Response",
    "StatusError",
    "TLSError",
    "TooLargeError",
    "get",
    "parse_url",
    "prepare",
]

# Bytes asked of each recv(), into one buffer reused for every read: a whole small page comes in one
# read, a 10k-series page (1.2 MB) in ~20. A bigger buffer costs its pages even for a small page
# (256 KiB: 50 more page faults than this, measured); a smaller one costs reads.
_RECV_SIZE = 64 * 1024
# After a failed certificate verification: how check's command line trusts the peer.
_TLS_HINT = " (--insecure skips verification, --ca-file trusts a private CA)"


class Response:
    """A fetched page: the final URL, status, headers (lower-case names) and the decoded body.

    ``body`` is the buffer the page was received into (a ``bytearray``, or ``bytes`` once gzip is
    undone): a 10k-series page is 1.2 MB, and a copy would cost as much as reading it.
    ``healthgauge.exposition.parse`` takes either.
    """

    __slots__ = ("body", "headers", "reason", "status", "url")

    def __init__(
        self, url: URL, status: int, reason: str, headers: list[tuple[str, str]], body: bytes | bytearray
    ) -> None:
        self.url = url
        self.status = status
        self.reason = reason
        self.headers = headers
        self.body = body

    def header(self, name: str) -> str | None:
        """The value of header ``name`` (any case), repeated fields joined with ", "."""
        name = name.lower()
        values = [value for key, value in self.headers if key == name]
        return ", ".join(values) if values else None

    @property
    def content_type(self) -> str | None:
        return self.header("content-type")

    def __repr__(self) -> str:
        return f"Response({str(self.url)!r}, {self.status}, {len(self.body)} bytes)"


def prepare(url: str, headers: Sequence[tuple[str, str]] = ()) -> tuple[URL, list[tuple[str, str]]]:
    """Validate a URL and request headers without any I/O; raise RequestError naming what is wrong.

    Returns the parsed URL and the full header list ``get`` sends: ours (User-Agent, Accept,
    Accept-Encoding: gzip, Connection: close) with the caller's replacing any of the same name.
    """
    target = parse_url(url)
    from healthgauge import __version__

    given = {name.lower() for name, _ in headers}
    ours = [
        ("User-Agent", f"healthgauge/{__version__}"),
        ("Accept", ACCEPT),
        ("Accept-Encoding", "gzip"),
        ("Connection", "close"),
    ]
    merged = [pair for pair in ours if pair[0].lower() not in given] + list(headers)
    build_request(target, merged)  # validates every header
    return target, merged


def get(
    url: str,
    *,
    timeout: float = 1.0,
    headers: Sequence[tuple[str, str]] = (),
    max_body: int = MAX_BODY,
    max_redirects: int = MAX_REDIRECTS,
    insecure: bool = False,
    ca_file: str | None = None,
    deadline: float | None = None,
    started: tuple[_socket.socket | None, bytes] | None = None,
) -> Response:
    """GET ``url`` and return the 200 response with its body decoded; raise a FetchError otherwise.

    ``timeout`` seconds bound the whole fetch, redirects included (or ``deadline``, a ``monotonic``
    time, when the caller has one). ``started``: a connection on which a caller already sent this
    request (``healthgauge check``'s quick path), with the bytes it has received; the response is
    read on from there, no second request is made; a connection of None is the response whole.
    Redirects are followed up to
    ``max_redirects`` times and only to the same host name (as the kubelet does); the body, before
    and after gzip decoding, is capped at ``max_body`` bytes. ``insecure`` skips certificate
    verification (kubelet's https probes never verify); ``ca_file`` trusts a private CA instead.
    """
    deadline = monotonic() + timeout if deadline is None else deadline
    target, request_headers = prepare(url, headers)
    flow = GetFlow(target, request_headers, max_redirects=max_redirects)
    try:
        # ``started``: the first response is already under way (check's quick path sent the request)
        done = started is not None and flow.answer(_read_on(*started, deadline, max_body, str(flow.url)))
        while not done:
            done = flow.answer(_exchange(flow.url, flow.request, deadline, max_body, insecure, ca_file))
        parser = flow.parser
        assert parser is not None
        body = decode_body(parser.body(), parser.header("content-encoding"), max_body)
    except FetchError as exc:
        exc.url = exc.url or str(flow.url)
        raise
    return Response(flow.url, parser.status, parser.reason, parser.headers, body)


def _exchange(
    target: URL, request: bytes, deadline: float, max_body: int, insecure: bool, ca_file: str | None
) -> ResponseParser:
    """One request and its response on a fresh connection (``Connection: close``)."""
    url = str(target)
    sock = _connect(target, deadline, insecure, ca_file)
    try:
        _wait(sock, deadline, url, "send")
        try:
            sock.sendall(request)
        except TimeoutError:
            raise DeadlineError("deadline passed while sending the request", url=url, phase="send") from None
        except OSError as exc:
            raise _io_error(exc, url, "sending the request") from None
        return _read(sock, deadline, max_body, url)
    finally:
        sock.close()


def _read_on(sock: _socket.socket | None, received: bytes, deadline: float, max_body: int, url: str) -> ResponseParser:
    """The response to a request another reader sent, from the bytes it received on."""
    try:
        parser = ResponseParser(max_body=max_body, only_2xx_bodies=True)
        try:
            done = parser.feed(received) if received else False
        except FetchError as exc:
            exc.url = exc.url or url
            raise
        if done:
            return parser
        if sock is None:
            parser.feed_eof()
            return parser
        return _read(sock, deadline, max_body, url, parser)
    finally:
        if sock is not None:
            sock.close()


def _read(
    sock: _socket.socket, deadline: float, max_body: int, url: str, parser: ResponseParser | None = None
) -> ResponseParser:
    parser = parser or ResponseParser(max_body=max_body, only_2xx_bodies=True)
    # One buffer for every read: a new one per read would be new memory each time (a page fault per
    # 4 KiB, ~1.5 us each here), and the parser copies what it keeps into the body anyway.
    buffer = bytearray(_RECV_SIZE)
    view = memoryview(buffer)
    phase = "read headers"
    try:
        while True:
            phase = "read body" if parser.head_done else "read headers"
            _wait(sock, deadline, url, phase)
            try:
                size = sock.recv_into(buffer)
            except TimeoutError:
                raise DeadlineError(f"deadline passed ({phase})", url=url, phase=phase) from None
            except OSError as exc:
                if not _is_tls_eof(exc):
                    raise _io_error(exc, url, f"reading the response ({phase})") from None
                size = 0
            if not size:
                parser.feed_eof()
                return parser
            if parser.feed(view[:size]):
                return parser
    except TimeoutError:  # check's interval timer (SIGALRM) rang outside recv: in the parser, say
        raise DeadlineError(f"deadline passed ({phase})", url=url, phase=phase) from None
    except FetchError as exc:
        exc.url = exc.url or url
        raise


def _wait(sock: _socket.socket, deadline: float, url: str, phase: str) -> None:
    """Give the next socket operation what is left of the deadline, or raise if nothing is."""
    left = deadline - monotonic()
    if left <= 0:
        raise DeadlineError(f"deadline passed ({phase})", url=url, phase=phase)
    sock.settimeout(left)


def _connect(target: URL, deadline: float, insecure: bool, ca_file: str | None) -> _socket.socket:
    url = str(target)
    last: OSError | None = None
    for family, address in _resolve(target.host, target.port, deadline, url):
        sock = _socket.socket(family, _socket.SOCK_STREAM)
        try:
            _wait(sock, deadline, url, "connect")
            sock.connect(address)
        except BaseException as exc:
            sock.close()
            if isinstance(exc, TimeoutError):
                raise DeadlineError(
                    f"deadline passed connecting to {_where(address)}", url=url, phase="connect"
                ) from None
            if not isinstance(exc, OSError):
                raise
            last = exc
            continue
        if target.scheme == "https":
            return _tls(sock, target, deadline, insecure, ca_file)
        return sock
    assert last is not None
    error = connect_error(last, target.authority)
    error.url = url
    raise error


def _resolve(host: str, port: int, deadline: float, url: str) -> list[tuple[int, tuple[Any, ...]]]:
    """The addresses to try; a name is resolved on a helper thread so the deadline bounds it too."""
    for family in (_socket.AF_INET, _socket.AF_INET6):
        try:
            _socket.inet_pton(family, host)
        except OSError:
            continue
        return [(family, (host, port))]
    import _thread

    box: list[object] = []
    done = _thread.allocate_lock()
    done.acquire()

    def lookup() -> None:
        try:
            # bytes, not str: a str host goes through the "idna" codec, which imports re and more.
            box.append(_socket.getaddrinfo(host.encode("ascii"), port, 0, _socket.SOCK_STREAM))
        except Exception as exc:
            box.append(exc)
        finally:
            done.release()

    _thread.start_new_thread(lookup, ())
    if not done.acquire(timeout=max(deadline - monotonic(), 0.0)):
        raise DeadlineError(f"deadline passed resolving {host!r}", url=url, phase="resolve")
    result = box[0]
    if isinstance(result, Exception):
        raise ResolveError(f"cannot resolve host {host!r}: {os_reason(result)}", url=url)
    assert isinstance(result, list)
    return [(info[0], info[4]) for info in result]


def _tls(sock: _socket.socket, target: URL, deadline: float, insecure: bool, ca_file: str | None) -> _socket.socket:
    """Wrap a connected socket in TLS; ``ssl`` (and the ``socket`` it needs) is imported only here."""
    import socket

    url = str(target)
    try:
        context = tls_context(ca_file, insecure)
    except OSError as exc:
        sock.close()
        raise RequestError(f"cannot load CA file {ca_file!r}: {os_reason(exc)}", url=url) from None
    plain = socket.socket(fileno=sock.detach())
    try:
        _wait(plain, deadline, url, "TLS handshake")
        return context.wrap_socket(plain, server_hostname=target.host)
    except BaseException as exc:
        plain.close()
        if isinstance(exc, TimeoutError):
            raise DeadlineError("deadline passed in the TLS handshake", url=url, phase="TLS handshake") from None
        if not isinstance(exc, OSError):
            raise
        error = handshake_error(exc, "" if insecure else _TLS_HINT)
        error.url = url
        raise error from None


def _is_tls_eof(exc: OSError) -> bool:
    """A TLS peer that closes without close_notify: the end of a read-until-close body, as curl reads it."""
    return type(exc).__name__ == "SSLEOFError"


def _io_error(exc: OSError, url: str, doing: str) -> FetchError:
    if type(exc).__module__ == "ssl" or type(exc).__name__.startswith("SSL"):
        return TLSError(f"TLS error {doing}: {os_reason(exc)}", url=url)
    return ConnectError(f"{os_reason(exc)} {doing}", url=url)


def _where(address: tuple[Any, ...]) -> str:
    host, port = address[0], address[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


# Re-exported errors keep the public module's name in tracebacks and docs.
for _error in (
    FetchError,
    RequestError,
    ConnectError,
    ResolveError,
    DeadlineError,
    TLSError,
    StatusError,
    RedirectError,
    TooLargeError,
    ProtocolError,
):
    _error.__module__ = __name__
del _error
