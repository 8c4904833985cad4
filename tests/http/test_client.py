"""The scrape client against scripted servers: framing, keep-alive, limits, and broken answers."""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import AsyncIterator, Callable

import pytest

from healthgauge.http._client import Endpoint
from healthgauge.http._http11 import MAX_HEAD, ConnectError, FetchError, StatusError

Script = Callable[[int, int], bytes | None]  # (connection number, request number) -> reply; None: close


class Scripted:
    """A loopback server answering each request with what the script says."""

    def __init__(self, script: Script, *, close_after_reply: bool = False) -> None:
        self.script = script
        self.close_after_reply = close_after_reply
        self.connections = 0
        self.requests: list[bytes] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        number = self.connections
        self.connections += 1
        try:
            for index in range(100):
                request = await reader.readuntil(b"\r\n\r\n")
                self.requests.append(request)
                reply = self.script(number, index)
                if reply is None:
                    break
                writer.write(reply)
                await writer.drain()
                if self.close_after_reply:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


@pytest.fixture
async def serve() -> AsyncIterator[Callable[..., asyncio.Future[tuple[Scripted, str]]]]:
    servers: list[asyncio.Server] = []

    async def start(script: Script, **options: bool) -> tuple[Scripted, str]:
        scripted = Scripted(script, **options)
        server = await asyncio.start_server(scripted.handle, "127.0.0.1", 0)
        servers.append(server)
        return scripted, f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/metrics?x=1"

    yield start  # type: ignore[misc]
    for server in servers:
        server.close()
        await server.wait_closed()


def ok(body: bytes, *headers: str) -> bytes:
    head = "".join(f"{h}\r\n" for h in headers)
    return f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\n{head}\r\n".encode() + body


def chunked(*parts: bytes, extra: str = "") -> bytes:
    body = b"".join(f"{len(p):x};ext=1\r\n".encode() + p + b"\r\n" for p in parts)
    return (
        f"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n{extra}\r\n".encode() + body + b"0\r\nX-Trailer: 1\r\n\r\n"
    )


async def test_keep_alive_and_the_request_sent(serve) -> None:  # type: ignore[no-untyped-def]
    server, url = await serve(lambda c, r: ok(f"page {r}".encode(), "Content-Type: text/plain"))
    endpoint = Endpoint(url, (("Authorization", "Bearer t"),))
    for i in range(3):
        response = await endpoint.get(1000)
        assert (response.status, response.content_type, response.body) == (200, "text/plain", f"page {i}".encode())
    assert server.connections == 1
    host = url.split("/")[2]
    assert (
        server.requests[0]
        == (
            f"GET /metrics?x=1 HTTP/1.1\r\nHost: {host}\r\nAccept-Encoding: gzip\r\nAuthorization: Bearer t\r\n\r\n"
        ).encode()
    )
    endpoint.close()


async def test_chunked_gzip_and_interim_answers(serve) -> None:  # type: ignore[no-untyped-def]
    packed = gzip.compress(b"app_state 1\n" * 100)
    replies = [
        chunked(b"hello ", b"world"),
        chunked(packed[:10], packed[10:], extra="Content-Encoding: gzip\r\n"),
        b"HTTP/1.1 100 Continue\r\n\r\n" + ok(b"after"),
        ok(gzip.compress(b"zipped"), "Content-Encoding: gzip"),
    ]
    _, url = await serve(lambda c, r: replies[r])
    endpoint = Endpoint(url)
    assert (await endpoint.get(10_000)).body == b"hello world"
    assert (await endpoint.get(10_000)).body == b"app_state 1\n" * 100
    assert (await endpoint.get(10_000)).body == b"after"
    assert (await endpoint.get(10_000)).body == b"zipped"
    endpoint.close()


async def test_close_framing_and_connection_close(serve) -> None:  # type: ignore[no-untyped-def]
    server, url = await serve(lambda c, r: b"HTTP/1.0 200 OK\r\n\r\nuntil the end", close_after_reply=True)
    endpoint = Endpoint(url)
    assert (await endpoint.get(1000)).body == b"until the end"
    assert (await endpoint.get(1000)).body == b"until the end"
    assert server.connections == 2
    endpoint.close()
    server, url = await serve(lambda c, r: ok(b"bye", "Connection: close"))
    endpoint = Endpoint(url)
    await endpoint.get(1000)
    await endpoint.get(1000)
    assert server.connections == 2
    endpoint.close()


async def test_a_stale_keep_alive_connection_is_retried_once(serve) -> None:  # type: ignore[no-untyped-def]
    # Every connection answers once, then closes when the next request comes (an idle timeout).
    server, url = await serve(lambda c, r: ok(b"fresh") if r == 0 else None)
    endpoint = Endpoint(url)
    for _ in range(3):
        assert (await endpoint.get(1000)).body == b"fresh"
    assert server.connections == 3
    endpoint.close()


# The messages are the shared core's (healthgauge.http._http11): `check` says the same words.
@pytest.mark.parametrize(
    ("reply", "message"),
    [
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
            "the connection closed after 5 of 10 body bytes (Content-Length)",
        ),
        (b"", "the server closed the connection without answering"),
        (b"SSH-2.0-OpenSSH\r\n\r\n", "not an HTTP response: status line 'SSH-2.0-OpenSSH'"),
        (b"HTTP/1.1 200 OK\r\nbroken\r\n\r\n", "malformed header line 'broken'"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n", "malformed Content-Length 'x'"),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\nx",
            "body of 5000 bytes (Content-Length) over the 1000-byte cap",
        ),
        (chunked(b"x" * 600, b"y" * 600), "body over the 1000-byte cap"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "malformed chunk-size line 'zz'"),
        (ok(b"x", "Content-Encoding: br"), "unsupported Content-Encoding 'br' (asked for gzip)"),
        (ok(b"not gzip", "Content-Encoding: gzip"), "corrupt gzip body: "),
        (ok(gzip.compress(b"\0" * 100_000), "Content-Encoding: gzip"), "gzip body inflates past the 1000-byte cap"),
        (ok(gzip.compress(b"abc")[:-8], "Content-Encoding: gzip"), "truncated gzip body: it ends after 3"),
        (b"HTTP/1.1 200 OK\r\nX: " + b"a" * MAX_HEAD + b"\r\n\r\n", f"response head over the {MAX_HEAD}-byte cap"),
    ],
)
async def test_broken_answers(serve, reply: bytes, message: str) -> None:  # type: ignore[no-untyped-def]
    _, url = await serve(lambda c, r: reply if r == 0 else None, close_after_reply=True)
    endpoint = Endpoint(url)
    with pytest.raises(FetchError) as info:
        await endpoint.get(1000)
    assert str(info.value).startswith(message)
    endpoint.close()


@pytest.mark.parametrize(
    ("head", "message"),
    [
        (b"HTTP/1.1 503 Service Unavailable", "HTTP 503 Service Unavailable"),
        (b"HTTP/1.1 204 No Content", "HTTP 204 No Content"),
        (b"HTTP/1.1 203 Non-Authoritative Information", "HTTP 203 Non-Authoritative Information"),
    ],
)
async def test_only_200_is_a_page(serve, head: bytes, message: str) -> None:  # type: ignore[no-untyped-def]
    # The status rule is the flow's (http/_flow.py), the same for check's fetch: only 200 is a page.
    _, url = await serve(lambda c, r: head + b"\r\nContent-Length: 0\r\n\r\n")
    endpoint = Endpoint(url)
    with pytest.raises(StatusError, match=f"^{message}$") as info:
        await endpoint.get(1000)
    assert info.value.status == int(head.split()[1])
    endpoint.close()


async def test_a_cancelled_fetch_drops_its_connection(serve) -> None:  # type: ignore[no-untyped-def]
    # The first connection never answers (an empty reply keeps it open); later ones answer.
    server, url = await serve(lambda c, r: b"" if c == 0 else ok(b"on time"))
    endpoint = Endpoint(url)
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.2):
            await endpoint.get(1000)
    assert (await endpoint.get(1000)).body == b"on time"
    assert server.connections == 2
    endpoint.close()


async def test_nothing_listening() -> None:
    endpoint = Endpoint("http://127.0.0.1:1/metrics")
    with pytest.raises(ConnectError, match=r"^connection refused connecting to 127\.0\.0\.1:1$"):
        await endpoint.get(1000)


# The shared misbehaving servers of healthgauge.testing, through the scrape path (fetch + deadline).


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: _servers().HangingServer(), "no complete answer within the 0.3s timeout"),
        (
            lambda: _servers().DripServer(b"app_up 1\n" * 50, interval=0.05),
            "no complete answer within the 0.3s timeout",
        ),
        (lambda: _servers().StatusServer(404), "HTTP 404 Not Found"),
        (lambda: _servers().GzipBombServer(), "gzip body inflates past the 1048576-byte cap"),
        (lambda: _servers().HugeBodyServer(), "body over the 1048576-byte cap"),
        (
            lambda: _servers().HugeBodyServer(content_length=True),
            "body of 100000000 bytes (Content-Length) over the 1048576-byte cap",
        ),
    ],
)
async def test_misbehaving_targets_fail_the_scrape_with_the_reason(make, message: str) -> None:  # type: ignore[no-untyped-def]
    from healthgauge.agent._config import parse_config
    from healthgauge.agent._scrape import ScrapeError, endpoint, fetch
    from support.fake_engine import FakeEngine

    with make() as server:
        text = (
            f'[[targets]]\nname = "w"\nurl = "{server.url}"\ninterval = "1s"\ntimeout = "300ms"\nbody_limit = "1MiB"\n'
        )
        (target,) = parse_config(text, FakeEngine()).targets
        ep = endpoint(target)
        try:
            with pytest.raises(ScrapeError) as info:
                await fetch(ep, target)
        finally:
            ep.close()
    assert str(info.value).startswith(message)


async def scrape_error(url: str) -> str:
    """The agent's reason for a failed scrape of ``url`` (deadline 2 s)."""
    from healthgauge.agent._config import parse_config
    from healthgauge.agent._scrape import ScrapeError, endpoint, fetch
    from support.fake_engine import FakeEngine

    text = f'[[targets]]\nname = "w"\nurl = "{url}"\ninterval = "2s"\ntimeout = "2s"\n'
    (target,) = parse_config(text, FakeEngine()).targets
    ep = endpoint(target)
    try:
        await fetch(ep, target)
    except ScrapeError as exc:
        return str(exc)
    finally:
        ep.close()
    raise AssertionError(f"{url} was scraped")


@pytest.mark.parametrize("hops", [1, 3])
async def test_same_host_redirects_are_followed_as_check_follows_them(hops: int) -> None:
    with _servers().RedirectServer(b"app_state 1\n", hops=hops) as server:
        ep = Endpoint(server.url)
        try:
            response = await ep.get(1000)
        finally:
            ep.close()
    assert (response.status, response.body, response.url.target) == (200, b"app_state 1\n", "/metrics")


async def test_another_port_of_the_same_host_is_the_same_host() -> None:
    testing = _servers()
    with testing.MetricsServer(b"app_state 1\n") as page, testing.RedirectServer(location=page.url) as server:
        ep = Endpoint(server.url)
        try:
            assert (await ep.get(1000)).body == b"app_state 1\n"
        finally:
            ep.close()


async def test_redirects_not_followed_fail_with_checks_own_words() -> None:
    """Same rule, same messages: what `healthgauge check` reports is what the agent reports."""
    from healthgauge.http import fetch

    testing = _servers()
    with testing.MetricsServer(b"x 1\n") as other:
        cases = [
            testing.RedirectServer(hops=4),  # one too many
            testing.RedirectServer(location=f"http://localhost:{other.port}/metrics"),  # another host
            testing.RedirectServer(location=""),  # no usable Location
            testing.RedirectServer(location="http://[bad/"),
        ]
        for server in cases:
            with server:
                with pytest.raises(fetch.RedirectError) as info:
                    fetch.get(server.url, timeout=2)
                assert await scrape_error(server.url) == str(info.value)
    assert str(info.value).startswith(f"{server.url}: HTTP 302 to an invalid Location: ")


async def test_a_redirect_without_a_body_keeps_the_connection(serve) -> None:  # type: ignore[no-untyped-def]
    def script(c: int, r: int) -> bytes:
        if r % 2 == 0:
            return b"HTTP/1.1 301 Moved Permanently\r\nLocation: /real\r\nContent-Length: 0\r\n\r\n"
        return ok(b"real page")

    server, url = await serve(script)
    endpoint = Endpoint(url)
    try:
        for _ in range(2):
            assert (await endpoint.get(1000)).body == b"real page"
    finally:
        endpoint.close()
    assert server.connections == 1
    assert [r.split(b" ")[1] for r in server.requests] == [b"/metrics?x=1", b"/real"] * 2


async def test_an_answer_with_an_unread_body_drops_its_connection(serve) -> None:  # type: ignore[no-untyped-def]
    replies = [b"HTTP/1.1 500 Oops\r\nContent-Length: 4\r\n\r\nboom", ok(b"fine")]
    server, url = await serve(lambda c, r: replies[min(c, 1)])
    endpoint = Endpoint(url)
    try:
        with pytest.raises(StatusError, match=r"^HTTP 500 Oops$"):
            await endpoint.get(1000)
        assert (await endpoint.get(1000)).body == b"fine"  # a new connection: "boom" was never read
    finally:
        endpoint.close()
    assert server.connections == 2


async def test_gzip_and_chunked_pages_from_the_shared_server() -> None:
    testing = _servers()
    for options in ({"gzip": True}, {"chunked": True}, {"gzip": True, "chunked": True}):
        with testing.MetricsServer(b"app_state 1\n" * 1000, **options) as server:
            ep = Endpoint(server.url)
            try:
                response = await ep.get(1 << 20)
            finally:
                ep.close()
        assert response.body == b"app_state 1\n" * 1000, options


def _servers():  # type: ignore[no-untyped-def]
    import healthgauge.testing

    return healthgauge.testing


async def test_redirects_to_ever_new_ports_hold_a_bounded_number_of_connections() -> None:
    from healthgauge.http._client import MAX_ORIGINS

    testing = _servers()
    pages = [testing.MetricsServer(b"app_state 1\n") for _ in range(MAX_ORIGINS + 2)]
    for page in pages:
        page.__enter__()
    try:
        with testing.RedirectServer(location=pages[0].url) as server:
            ep = Endpoint(server.url)
            try:
                for page in pages:
                    server.location = page.url
                    assert (await ep.get(1000)).body == b"app_state 1\n"
                    assert len(ep._connections) <= MAX_ORIGINS
            finally:
                ep.close()
    finally:
        for page in pages:
            page.__exit__(None, None, None)


async def test_a_gzip_member_flood_is_refused_before_the_body_is_received() -> None:
    """16 MiB of empty gzip members used to be received whole before the member cap refused it;
    decoded as it arrives, it is refused and its connection closed after the first reads."""
    flood = gzip.compress(b"") * (16 * 1024 * 1024 // len(gzip.compress(b"")))
    sent = 0
    closed = asyncio.Event()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal sent
        try:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(f"HTTP/1.1 200 OK\r\nContent-Length: {len(flood)}\r\nContent-Encoding: gzip\r\n\r\n".encode())
            for start in range(0, len(flood), 64 * 1024):  # paced: at most ~3 s if never refused
                writer.write(flood[start : start + 64 * 1024])
                await writer.drain()
                sent += 64 * 1024
                await asyncio.sleep(0.01)
        except ConnectionError:
            pass
        finally:
            closed.set()
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    endpoint = Endpoint(f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/metrics")
    try:
        with pytest.raises(FetchError, match="more than 1000 members"):
            await asyncio.wait_for(endpoint.get(16 * 1024 * 1024), 30)
        await asyncio.wait_for(closed.wait(), 30)
        assert sent < 8 * 1024 * 1024, f"{sent} bytes of the flood were sent before the client closed"
    finally:
        endpoint.close()
        server.close()
        await server.wait_closed()


async def test_a_gzip_page_arriving_in_small_reads_is_decoded_whole(serve) -> None:  # type: ignore[no-untyped-def]
    page = b"".join(b'app_up{i="%d"} 1\n' % i for i in range(50_000))
    packed = gzip.compress(page)
    parts = [packed[i : i + 1000] for i in range(0, len(packed), 1000)]
    _, url = await serve(
        lambda c, r: [ok(packed, "Content-Encoding: gzip"), chunked(*parts, extra="Content-Encoding: gzip\r\n")][r]
    )
    endpoint = Endpoint(url)
    assert (await endpoint.get(len(page))).body == page
    assert (await endpoint.get(len(page))).body == page
    with pytest.raises(FetchError, match="inflates past"):
        await Endpoint(url).get(len(page) - 1)
    endpoint.close()
