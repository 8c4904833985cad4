"""fetch.get against loopback servers that behave, and that misbehave on purpose."""

from __future__ import annotations

import _socket
import socket
import time
from pathlib import Path

import pytest

from healthgauge.http import fetch
from healthgauge.http.fetch import (
    ConnectError,
    DeadlineError,
    ProtocolError,
    RedirectError,
    RequestError,
    ResolveError,
    StatusError,
    TLSError,
    TooLargeError,
)
from healthgauge.testing import (
    DripServer,
    GzipBombServer,
    HangingServer,
    HugeBodyServer,
    LoopbackServer,
    MetricsServer,
    RedirectServer,
    StatusServer,
)
from healthgauge.testing._servers import Request
from support.tls import make_certificate, server_context

PAGE = b"# TYPE app_up gauge\napp_up 1\n"


def refused_url() -> str:
    """A loopback port nothing listens on (bound, then closed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/metrics"


@pytest.mark.parametrize(("gzip", "chunked"), [(False, False), (True, False), (False, True), (True, True)])
def test_page_plain_gzip_and_chunked(gzip: bool, chunked: bool) -> None:
    with MetricsServer(PAGE * 1000, gzip=gzip, chunked=chunked) as server:
        response = fetch.get(server.url)
    assert response.status == 200
    assert response.body == PAGE * 1000
    assert response.content_type == "text/plain; version=0.0.4; charset=utf-8"
    assert (response.header("content-encoding") == "gzip") is gzip


def test_request_headers() -> None:
    with MetricsServer(PAGE) as server:
        fetch.get(server.url, headers=[("Authorization", "Bearer t0ken"), ("User-Agent", "probe/1")])
    [request] = server.requests
    assert (request.method, request.target) == ("GET", "/metrics")
    assert request.headers["host"] == f"127.0.0.1:{server.port}"
    assert request.headers["accept-encoding"] == "gzip"
    assert request.headers["accept"].startswith("application/openmetrics-text;version=1.0.0,")
    assert request.headers["authorization"] == "Bearer t0ken"
    assert request.headers["user-agent"] == "probe/1"
    assert request.headers["connection"] == "close"


def test_localhost_name_is_resolved() -> None:
    with MetricsServer(PAGE) as server:
        assert fetch.get(f"http://localhost:{server.port}/metrics").body == PAGE


def test_hanging_endpoint_is_cut_off_at_the_deadline() -> None:
    with HangingServer() as server:
        start = time.monotonic()
        with pytest.raises(DeadlineError, match=r"deadline passed \(read headers\)") as info:
            fetch.get(server.url, timeout=0.3)
        elapsed = time.monotonic() - start
    assert info.value.phase == "read headers"
    assert 0.3 <= elapsed < 1.5  # the server would take seconds; the rest is a loaded machine's slack


def test_slow_drip_is_cut_off_at_the_deadline() -> None:
    with DripServer(PAGE, interval=0.02) as server:
        start = time.monotonic()
        with pytest.raises(DeadlineError, match="deadline passed"):
            fetch.get(server.url, timeout=0.3)
        elapsed = time.monotonic() - start
    assert 0.3 <= elapsed < 1.5  # the server would take seconds; the rest is a loaded machine's slack


def test_the_deadline_covers_redirects_too() -> None:
    with HangingServer() as hung, RedirectServer(location=hung.url) as redirect:
        redirect.location = f"http://127.0.0.1:{hung.port}/metrics"
        start = time.monotonic()
        with pytest.raises(DeadlineError):
            fetch.get(redirect.url, timeout=0.3)
    assert time.monotonic() - start < 1.5


def test_404() -> None:
    with StatusServer(404) as server, pytest.raises(StatusError, match=r"/metrics: HTTP 404 Not Found$") as info:
        fetch.get(server.url)
    assert info.value.status == 404


@pytest.mark.parametrize("status", [203, 206])
def test_only_200_is_a_page(status: int) -> None:
    # The one status rule (http/_flow.py), the same for the agent's scrape client.
    with (
        StatusServer(status, body=b"app_up 1\n") as server,
        pytest.raises(StatusError, match=f"/metrics: HTTP {status} "),
    ):
        fetch.get(server.url)


def test_error_status_does_not_read_the_body() -> None:
    server = StatusServer(503, body=b"x" * 50_000_000)
    with server, pytest.raises(StatusError, match="HTTP 503 Service Unavailable"):
        fetch.get(server.url, max_body=100)


@pytest.mark.parametrize("hops", [1, 3])
def test_same_host_redirects_are_followed(hops: int) -> None:
    with RedirectServer(PAGE, hops=hops) as server:
        response = fetch.get(server.url)
    assert response.body == PAGE
    assert str(response.url) == f"http://127.0.0.1:{server.port}/metrics"
    assert [r.target for r in server.requests][-1] == "/metrics"
    assert len(server.requests) == hops + 1


def test_more_than_three_redirects_fail() -> None:
    with RedirectServer(PAGE, hops=4) as server, pytest.raises(RedirectError, match="more than 3 redirects"):
        fetch.get(server.url)
    assert len(server.requests) == 4


def test_redirect_to_another_host_is_not_followed() -> None:
    with MetricsServer(PAGE) as other, RedirectServer(location="") as server:
        server.location = f"http://localhost:{other.port}/metrics"
        with pytest.raises(RedirectError, match=r"HTTP 302 to another host \(http://localhost:\d+/metrics\)"):
            fetch.get(server.url)
    assert other.requests == []


def test_redirect_without_location() -> None:
    server = MetricsServer(b"", status=302)
    with server, pytest.raises(RedirectError, match="HTTP 302 without a Location header"):
        fetch.get(server.url)


def test_gzip_bomb_hits_the_cap() -> None:
    with GzipBombServer(inflated=64 << 20) as server:
        assert len(server.body) < 100_000
        start = time.monotonic()
        with pytest.raises(TooLargeError, match=r"gzip body inflates past the 16777216-byte cap"):
            fetch.get(server.url, timeout=5)
    assert time.monotonic() - start < 2


@pytest.mark.parametrize("content_length", [False, True])
def test_100_mb_body_hits_the_cap(content_length: bool) -> None:
    server = HugeBodyServer(100_000_000, content_length=content_length)
    with server, pytest.raises(TooLargeError, match="over the 16777216-byte cap"):
        fetch.get(server.url, timeout=5)
    assert server.sent < 50_000_000


def test_connection_refused() -> None:
    url = refused_url()
    with pytest.raises(ConnectError, match=r"connection refused connecting to 127.0.0.1:\d+$"):
        fetch.get(url)


def test_unresolvable_host(monkeypatch: pytest.MonkeyPatch) -> None:
    # Simulated so that no DNS query leaves loopback: glibc's own failure for an unknown name.
    def no_such_name(*args: object) -> object:
        raise _socket.gaierror(_socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(_socket, "getaddrinfo", no_such_name)
    with pytest.raises(ResolveError, match=r"cannot resolve host 'metrics\.example': name or service not known"):
        fetch.get("http://metrics.example/metrics")


def test_slow_resolver_is_bounded_by_the_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    def slow(*args: object) -> object:
        time.sleep(3.0)
        raise _socket.gaierror(_socket.EAI_AGAIN, "Temporary failure in name resolution")

    monkeypatch.setattr(_socket, "getaddrinfo", slow)
    start = time.monotonic()
    with pytest.raises(DeadlineError, match=r"deadline passed resolving 'metrics\.example'") as info:
        fetch.get("http://metrics.example/metrics", timeout=0.2)
    assert info.value.phase == "resolve"
    assert time.monotonic() - start < 1.5  # the resolver would take 3 s


@pytest.mark.parametrize(
    "url", ["ftp://127.0.0.1/", "http://", "http://127.0.0.1:99999/", "http://" + "a" * 64 + ".example/"]
)
def test_bad_urls_fail_before_any_io(url: str) -> None:
    with pytest.raises(RequestError):
        fetch.get(url)


def test_bad_header_fails_before_any_io() -> None:
    with pytest.raises(RequestError, match="holds CR, LF or NUL"):
        fetch.prepare("http://127.0.0.1:1/", [("X-A", "1\r\nX-B: 2")])


class BannerServer(LoopbackServer):
    """Answers like an SSH server would: not HTTP at all."""

    def handle(self, conn: socket.socket, request: Request | None) -> None:
        conn.sendall(b"SSH-2.0-OpenSSH_9.2\r\n\r\n")


def test_not_http_at_all() -> None:
    server = BannerServer()
    with server, pytest.raises(ProtocolError, match=r"not an HTTP response: status line 'SSH-2\.0-OpenSSH_9\.2'"):
        fetch.get(server.url)


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return make_certificate(tmp_path_factory.mktemp("tls"))


def test_https_with_a_trusted_ca(certificate: tuple[Path, Path]) -> None:
    with MetricsServer(PAGE, tls=server_context(*certificate)) as server:
        assert server.url.startswith("https://")
        assert fetch.get(server.url, ca_file=str(certificate[0])).body == PAGE
        assert fetch.get(f"https://localhost:{server.port}/metrics", ca_file=str(certificate[0])).body == PAGE


def test_https_verification_fails_for_an_unknown_ca(certificate: tuple[Path, Path]) -> None:
    with MetricsServer(PAGE, tls=server_context(*certificate)) as server:
        with pytest.raises(TLSError, match=r"certificate verification failed: self-signed certificate.*--insecure"):
            fetch.get(server.url)
        assert fetch.get(server.url, insecure=True).body == PAGE


def test_https_name_mismatch(tmp_path: Path) -> None:
    cert, key = make_certificate(tmp_path, names="DNS:other.example")
    server = MetricsServer(PAGE, tls=server_context(cert, key))
    with server, pytest.raises(TLSError, match="certificate verification failed: IP address mismatch"):
        fetch.get(server.url, ca_file=str(cert))


def test_https_to_a_plain_http_server() -> None:
    with MetricsServer(PAGE) as server, pytest.raises(TLSError, match="TLS handshake failed"):
        fetch.get(server.url.replace("http://", "https://"))


def test_missing_ca_file() -> None:
    with MetricsServer(PAGE) as server, pytest.raises(RequestError, match=r"cannot load CA file '/nonexistent\.pem'"):
        fetch.get(server.url.replace("http://", "https://"), ca_file="/nonexistent.pem")
