"""The scrape client: keep-alive HTTP/1.1 GETs over asyncio, parsed by the shared pure core.

The protocol lives in :mod:`healthgauge.http._http11` (``ResponseParser``: status line, headers,
Content-Length, chunked, caps, the keep-alive decision; ``decode_body``: gzip) and
:mod:`healthgauge.http._url` (URLs, request bytes, the redirect rule), the same code ``healthgauge
check`` runs over a blocking socket. This module only moves bytes between an asyncio transport and
that core, so the agent and ``check`` read every response alike and say the same words about it.

Why not aiohttp's client (the agent used it first): a scrape is the agent's other hot path, a
thousand a second, and aiohttp's request machinery cost 1.6-1.8x the CPU of this client per scrape,
kernel included (bench/scrape_client.py prints both side by side). What a scrape needs is small:

- one connection per target and origin, kept alive and reused while the core says it may be
  (Prometheus does the same); a reused connection that the server closed while idle is retried
  once on a fresh one;
- caps from the core (head, headers, chunk lines) and the target's ``body_limit`` on the wire
  and after gzip, so a gzip bomb or an endless body stops early: a gzip body is decoded as it
  arrives (``GunzipStream``, one bounded step per read, reading paused while a step's input is
  left), so a flood of empty members or a bomb is refused and its connection closed after the
  first read past the cap, not after receiving the whole body;
- TLS through the standard library: the system's CAs (or the target's ``ca_file``) with the host
  name checked, or no verification (``insecure``);
- redirects followed as ``check`` follows them: at most three, to the same host only (Prometheus
  follows redirects when it scrapes); a redirect or error answer's body is not read, and its
  connection is not reused unless it had no body.

The deadline is the caller's (``asyncio.timeout`` around :meth:`Endpoint.get`, redirects
included): a cancelled fetch closes its connection, since a half-read response cannot be resumed.
"""

from __future__ import annotations

import asyncio
import ssl

from healthgauge.http._flow import MAX_REDIRECTS, GetFlow, connect_error, handshake_error, tls_context
from healthgauge.http._http11 import FetchError, GunzipStream, ProtocolError, ResponseParser, decode_steps
from healthgauge.http._url import URL, build_request, parse_url

__all__ = ["MAX_ORIGINS", "MAX_REDIRECTS", "Endpoint", "Response", "tls_context"]
#: Kept-alive connections per target: its own origin and those its redirects reach. A server that
#: redirects to a new port on every scrape must not make the agent hold a socket per scrape.
MAX_ORIGINS = MAX_REDIRECTS + 1


class Response:
    """A page: the final URL, its status (200), reason, Content-Type and the decoded body."""

    __slots__ = ("body", "content_type", "reason", "status", "url")

    def __init__(self, url: URL, status: int, reason: str, content_type: str | None, body: bytes | bytearray) -> None:
        self.url = url
        self.status = status
        self.reason = reason
        self.content_type = content_type
        self.body = body


Exchanged = tuple[ResponseParser, GunzipStream | None]


class _Connection(asyncio.Protocol):
    """One connection: feeds what arrives to the current exchange's parser, and a gzip body to
    its decoder."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.parser: ResponseParser | None = None
        self.waiter: asyncio.Future[Exchanged] | None = None
        self.started = False  # a byte of the current response arrived
        self.limit = 0  # the decoded body's cap
        self.inflate: GunzipStream | None = None  # the current response's gzip body, decoded as it comes
        self.paused = False  # reading paused until the decoder has used what it was fed

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.parser is None or self.waiter is None or self.waiter.done():
            return
        try:
            self.parser.feed_eof()  # the end of a read-until-close body, or a cut answer
        except FetchError as cut:
            lost = exc is not None and not self.started
            self._fail(ProtocolError(f"the connection was lost before any answer: {exc}") if lost else cut)
        else:
            self._complete(self.parser, self.waiter)

    def data_received(self, data: bytes) -> None:
        parser, waiter = self.parser, self.waiter
        if parser is None or waiter is None or waiter.done():
            self.close()  # bytes nobody asked for: the connection is out of step
            return
        self.started = True
        try:
            done = parser.feed(data)
            left = self._inflate(parser)
        except FetchError as exc:
            self._fail(exc)
            return
        if done:
            if not parser.keep_alive:
                self.close()
            self._complete(parser, waiter)
        elif left and self.inflate is not None:  # input is waiting: read no more until it is decoded
            self._pause(True)
            asyncio.get_running_loop().call_soon(self._inflate_more, self.inflate)

    def _inflate(self, parser: ResponseParser) -> bool:
        """Decode one step of what arrived of a gzip body; True while input is left to decode."""
        stream = self.inflate
        if stream is None:
            if self.limit < 0 or not parser.head_done or not _gzip_coded(parser):
                return False
            stream = self.inflate = GunzipStream(self.limit)
        stream.feed(parser.take_body())
        return stream.step()

    def _inflate_more(self, stream: GunzipStream) -> None:
        if stream is not self.inflate or self.waiter is None or self.waiter.done():
            return  # the exchange ended (the rest is decoded by _decode) or was abandoned
        try:
            left = stream.step()
        except FetchError as exc:
            self._fail(exc)
            return
        if left:
            asyncio.get_running_loop().call_soon(self._inflate_more, stream)
        else:
            self._pause(False)

    def _pause(self, paused: bool) -> None:
        if self.transport is not None and paused != self.paused:
            self.paused = paused
            if paused:
                self.transport.pause_reading()
            else:
                self.transport.resume_reading()

    def _complete(self, parser: ResponseParser, waiter: asyncio.Future[Exchanged]) -> None:
        stream, self.inflate, self.parser = self.inflate, None, None
        self._pause(False)
        waiter.set_result((parser, stream))

    def exchange(
        self, request: bytes, parser: ResponseParser, *, inflate_limit: int | None = None
    ) -> asyncio.Future[Exchanged]:
        """Send ``request``; the future completes with ``parser`` once it holds the response, and
        with ``inflate_limit``, the decoder of its gzip body (capped at that many decoded bytes;
        ``None`` for any other body, or without ``inflate_limit``: the body is kept as sent)."""
        assert self.transport is not None
        self.waiter = asyncio.get_running_loop().create_future()
        self.parser = parser
        self.started = False
        self.limit = -1 if inflate_limit is None else inflate_limit
        self.inflate = None
        self.transport.write(request)
        return self.waiter

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def abandon(self) -> None:
        """Close, and free the half-read response now: a capped body is up to 16 MiB, and the
        exception that ended it (its traceback holds this parser) may otherwise live in a
        reference cycle until the next full collection (minutes in the agent)."""
        self.close()
        if self.parser is not None:
            self.parser.release()
            self.parser = None
        self.inflate = None  # its buffers with it
        self.waiter = None

    def _fail(self, exc: FetchError) -> None:
        waiter = self.waiter
        self.abandon()
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc.with_traceback(None))


class Endpoint:
    """One target: its URL, its prepared request, and its kept-alive connections (one per origin
    it reaches: itself, and the origins its redirects lead to)."""

    def __init__(
        self, url: str, headers: tuple[tuple[str, str], ...] = (), *, tls: ssl.SSLContext | None = None
    ) -> None:
        self.url = parse_url(url)
        # gzip is the one coding decode_body reads: ask for it unless the caller says otherwise.
        given = {name.lower() for name, _ in headers}
        self.headers = headers if "accept-encoding" in given else (("Accept-Encoding", "gzip"), *headers)
        self.tls = tls
        self.request = build_request(self.url, self.headers)
        self._connections: dict[tuple[str, str, int], _Connection] = {}

    @property
    def host(self) -> str:
        return self.url.host

    @property
    def port(self) -> int:
        return self.url.port

    async def get(self, limit: int) -> Response:
        """GET the page as :class:`healthgauge.http._flow.GetFlow` says (same-host redirects, a 200
        answer); the body is capped at ``limit`` bytes on the wire and after gzip. Raises a
        :class:`healthgauge.http.fetch.FetchError`."""
        flow = GetFlow(self.url, self.headers, request=self.request)
        while True:
            parser, stream = await self._exchange(flow.url, flow.request, limit)
            if flow.answer(parser):
                break
        body = await _decode(parser, stream, limit)
        return Response(flow.url, parser.status, parser.reason, parser.header("content-type"), body)

    async def _exchange(self, url: URL, request: bytes, limit: int) -> Exchanged:
        """One request and its response; once more on a fresh connection when a kept-alive one
        turns out to have been closed by the server before it answered."""
        key = (url.scheme, url.host, url.port)
        connection = self._connections.get(key)
        reused = connection is not None and not connection.closed
        try:
            return await self._once(key, url, request, limit)
        except FetchError:
            connection = self._connections.get(key)
            if not reused or connection is None or connection.started:
                raise
        return await self._once(key, url, request, limit)

    async def _once(self, key: tuple[str, str, int], url: URL, request: bytes, limit: int) -> Exchanged:
        connection = self._connections.get(key)
        if connection is None or connection.closed:
            self._make_room(key)
            connection = await self._connect(url)
            self._connections[key] = connection
        parser = ResponseParser(max_body=limit, only_2xx_bodies=True)
        try:
            return await connection.exchange(request, parser, inflate_limit=limit)
        except BaseException:
            connection.abandon()  # a half-read answer cannot be resumed
            raise

    async def _connect(self, url: URL) -> _Connection:
        loop = asyncio.get_running_loop()
        https = url.scheme == "https"
        context = (self.tls or tls_context()) if https else None
        try:
            _, connection = await loop.create_connection(
                _Connection, url.host, url.port, ssl=context, server_hostname=url.host if https else None
            )
        except ssl.SSLError as exc:
            raise handshake_error(exc) from None
        except OSError as exc:
            raise connect_error(exc, url.authority) from None
        return connection

    def _make_room(self, key: tuple[str, str, int]) -> None:
        """Drop closed connections, then the oldest origins past :data:`MAX_ORIGINS`."""
        for other in [k for k, c in self._connections.items() if c.closed or k == key]:
            del self._connections[other]
        while len(self._connections) >= MAX_ORIGINS:
            oldest = next(iter(self._connections))
            self._connections.pop(oldest).close()

    def close(self) -> None:
        for connection in self._connections.values():
            connection.close()
        self._connections.clear()


def _gzip_coded(parser: ResponseParser) -> bool:
    """A 2xx answer with a gzip body (the one coding asked for; any other is refused at its end)."""
    coding = (parser.header("content-encoding") or "").strip().lower()
    return coding in ("gzip", "x-gzip") and 200 <= parser.status < 300


async def _decode(parser: ResponseParser, stream: GunzipStream | None, limit: int) -> bytes | bytearray:
    """The body with its Content-Encoding undone, a bounded step at a time: the loop serves
    probes between steps, and the caller's deadline can cancel between them. A gzip body was
    decoded as it arrived (``stream``): only what is left of it is decoded here."""
    if stream is not None:
        try:
            stream.feed(parser.take_body())
            left = stream.step()
            while left:
                await asyncio.sleep(0)  # a step at a time, the loop serving others between
                left = stream.step()
            return stream.finish()
        finally:
            parser.release()
    steps = decode_steps(parser.body(), parser.header("content-encoding"), limit)
    try:
        while True:
            next(steps)
            await asyncio.sleep(0)
    except StopIteration as done:
        decoded: bytes | bytearray = done.value
    finally:
        steps.close()
        parser.release()  # the encoded body is not needed any more (identity: decoded is it)
    return decoded
