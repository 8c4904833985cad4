"""The loopback servers themselves: they serve what they say, and stop every thread on exit."""

import gzip
import socket
import threading
import time
import urllib.request

from healthgauge.testing import DripServer, HangingServer, MetricsServer, RedirectServer, StatusServer
from healthgauge.testing._servers import chunked, gzip_bomb, response_head


def raw_get(url: str, *, headers: str = "", timeout: float = 5) -> bytes:
    """A whole response as bytes, read with the standard library's socket (not the code under test)."""
    host, _, rest = url.removeprefix("http://").partition("/")
    address, _, port = host.partition(":")
    with socket.create_connection((address, int(port)), timeout=timeout) as conn:
        conn.sendall(f"GET /{rest} HTTP/1.1\r\nHost: {host}\r\n{headers}\r\n".encode())
        parts = []
        while data := conn.recv(65536):
            parts.append(data)
    return b"".join(parts)


def test_metrics_server_is_readable_by_urllib() -> None:
    with MetricsServer("app_up 1\n") as server, urllib.request.urlopen(server.url, timeout=5) as resp:
        assert resp.read() == b"app_up 1\n"
        assert resp.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"


def test_metrics_server_gzip_only_when_asked_and_page_can_change() -> None:
    with MetricsServer(b"app_up 1\n", gzip=True) as server:
        plain = raw_get(server.url)
        zipped = raw_get(server.url, headers="Accept-Encoding: gzip\r\n")
        server.page = b"app_up 0\n"
        changed = raw_get(server.url)
    assert plain.endswith(b"\r\n\r\napp_up 1\n")
    assert gzip.decompress(zipped.partition(b"\r\n\r\n")[2]) == b"app_up 1\n"
    assert b"Content-Encoding: gzip" in zipped
    assert changed.endswith(b"app_up 0\n")
    assert [r.target for r in server.requests] == ["/metrics"] * 3


def test_chunked_framing() -> None:
    assert chunked(b"abcdef", 4) == b"4\r\nabcd\r\n2\r\nef\r\n0\r\n\r\n"
    assert chunked(b"") == b"0\r\n\r\n"
    assert response_head(404, [("A", "b")]) == b"HTTP/1.1 404 Not Found\r\nA: b\r\n\r\n"


def test_status_and_redirect_servers() -> None:
    with StatusServer(503, "down\n") as status, RedirectServer(b"x 1\n", hops=2) as redirect:
        assert raw_get(status.url).startswith(b"HTTP/1.1 503 Service Unavailable\r\n")
        first = raw_get(redirect.url)
        second = raw_get(f"{redirect.base_url}/hop/1")
        final = raw_get(f"{redirect.base_url}/metrics")
    assert redirect.url.endswith("/hop/2")
    assert b"\r\nLocation: /hop/1\r\n" in first
    assert b"\r\nLocation: /metrics\r\n" in second
    assert final.endswith(b"\r\n\r\nx 1\n")


def test_gzip_bomb_is_small_on_the_wire() -> None:
    bomb = gzip_bomb((8 << 20) + 5)
    assert len(bomb) < 20_000
    assert len(gzip.decompress(bomb)) == (8 << 20) + 5


def test_hanging_and_drip_servers_stop_with_connections_open() -> None:
    before = threading.active_count()
    start = time.monotonic()
    with HangingServer() as hung, DripServer(interval=10) as drip:
        conns = [socket.create_connection(("127.0.0.1", s.port), timeout=5) for s in (hung, drip)]
        conns[1].sendall(b"GET / HTTP/1.1\r\n\r\n")
        assert conns[1].recv(1) == b"H"
        conns[0].settimeout(0.1)
        try:
            conns[0].recv(1)
            raise AssertionError("a hanging server answered")
        except TimeoutError:
            pass
    assert time.monotonic() - start < 3
    for conn in conns:
        conn.close()
    deadline = time.monotonic() + 5
    while threading.active_count() > before and time.monotonic() < deadline:
        time.sleep(0.01)
    assert threading.active_count() == before
