"""HTTP/1.1 responses without I/O: a response parsed from the bytes fed in, its body decoded.

The socket side lives in ``healthgauge.http.fetch``, URLs and request bytes in ``healthgauge.http._url``;
everything here is pure so each rule is tested on its own (h11's sans-I/O shape). It sits on the
check path: no ``re``, ``typing`` or ``dataclasses`` (DEVELOPERS.md, "The check path"); ``zlib`` is
imported only for a gzip body.

Rules follow RFC 9112 (HTTP/1.1 message syntax) and RFC 9110 (semantics), as a client reads them:
a bare LF ends a line too (RFC 9112 §2.2), Transfer-Encoding overrides Content-Length (§6.3),
differing Content-Length values are an error (§6.3), obs-fold in a response is unfolded (§5.2).

The errors, one tree split by who is at fault::

    FetchError                 anything that stopped a fetch (``.url`` names the page)
    ├── RequestError           the request as given cannot be made (URL, header): nothing was sent
    ├── ConnectError           no connection: refused, unreachable, reset
    │   └── ResolveError       the host name does not resolve
    ├── DeadlineError          the one deadline over resolve, connect, send and read passed
    ├── TLSError               the TLS handshake or the certificate check failed
    ├── StatusError            the final response has a status that is not 2xx (``.status``)
    ├── RedirectError          a redirect not followed: too many, another host, no Location
    ├── TooLargeError          a head, body or decompressed body over its cap (``.limit``)
    └── ProtocolError          the response is not HTTP/1.x, or ended early
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Generator
    from typing import Any

# Caps, each with the precedent it follows.
# A response head (status line and headers): Python's http.client reads lines of up to 64 KiB and at
# most 100 headers; curl caps a header at 100 KiB. A metrics endpoint sends a handful.
MAX_HEAD = 64 * 1024
MAX_HEADERS = 100
# A chunk-size line with its extensions: nginx reads chunk sizes into a 4 KiB line buffer.
MAX_CHUNK_LINE = 4096
# Chunks a body may be cut into: past FREE_CHUNKS, the chunks so far must average at least
# MIN_CHUNK_AVERAGE bytes. Each chunk costs a parse step (~1.5 us) whatever its size, so a server
# dripping one-byte chunks would cost the reader ~40x the CPU of the bytes it sends; real servers
# send chunks of a write buffer (Go: 4 KiB) or of a whole page, a streaming one a line (~100 B).
FREE_CHUNKS = 1024
MIN_CHUNK_AVERAGE = 64
# A metrics page, as decompressed text. Prometheus applies no limit unless `body_size_limit` is set;
# a single process's page is tens of KiB to a few MiB (10k series ≈ 0.6 MiB), so 16 MiB leaves room
# for big exporters while bounding what one probe may allocate.
MAX_BODY = 16 * 1024 * 1024

_HEX = frozenset(b"0123456789abcdefABCDEF")
_DIGITS = frozenset(b"0123456789")
# RFC 9110 §5.6.2 token characters, for header names.
_TOKEN = frozenset(b"!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
REDIRECTS = frozenset((301, 302, 303, 307, 308))


class FetchError(Exception):
    """A metrics page could not be fetched; ``str()`` names the page and what failed."""

    def __init__(self, message: str, *, url: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.url = url

    def __str__(self) -> str:
        return f"{self.url}: {self.message}" if self.url else self.message


class RequestError(FetchError):
    """The request as given cannot be made (a bad URL or header); raised before any I/O."""


class ConnectError(FetchError):
    """No connection could be made: refused, unreachable, reset."""


class ResolveError(ConnectError):
    """The host name does not resolve."""


class DeadlineError(FetchError):
    """The deadline passed; ``phase`` says where (resolve, connect, TLS handshake, send, read)."""

    def __init__(self, message: str, *, url: str = "", phase: str = "") -> None:
        super().__init__(message, url=url)
        self.phase = phase


class TLSError(FetchError):
    """The TLS handshake or the certificate verification failed."""


class StatusError(FetchError):
    """The final response's status is not 2xx."""

    def __init__(self, message: str, *, url: str = "", status: int = 0) -> None:
        super().__init__(message, url=url)
        self.status = status


class RedirectError(FetchError):
    """A redirect that is not followed: too many, to another host, or without a usable Location."""


class TooLargeError(FetchError):
    """A response head, body or decompressed body is over its cap (``limit`` bytes)."""

    def __init__(self, message: str, *, url: str = "", limit: int = 0) -> None:
        super().__init__(message, url=url)
        self.limit = limit


class ProtocolError(FetchError):
    """The response is not well-formed HTTP/1.x, its body encoding is corrupt, or it ended early."""


def excerpt(data: bytes | str, width: int = 60) -> str:
    """The offending text for an error message, quoted and cut to ``width``."""
    text = data.decode("latin-1") if isinstance(data, bytes) else data
    return repr(text if len(text) <= width else text[:width] + "...")


# Where a ResponseParser is: reading the head, then one of the body framings, then done.
_HEAD, _LENGTH, _CLOSE, _CHUNK_SIZE, _CHUNK_DATA, _CHUNK_END, _TRAILER, _DONE = range(8)


class ResponseParser:
    """One HTTP/1.x response from the bytes fed in: status, headers and the body as sent.

    ``feed`` takes whatever the socket read and returns True once the response is complete;
    ``feed_eof`` says the peer closed. Interim 1xx responses are skipped. With ``only_2xx_bodies``
    a response of any other status is complete at the end of its head: a probe needs only the
    status and Location of a redirect or an error, not a body that may be large. The body stays as sent
    (``decode_body`` undoes a Content-Encoding); its framing (Content-Length, chunked or
    read-until-close) is removed. Every size is capped: nothing grows without bound.

    ``keep_alive`` says whether the connection may carry the next request once the response is
    complete (a client that keeps connections open, as the agent's scrape loop does).
    """

    __slots__ = (
        "_body",
        "_buf",
        "_chunks",
        "_fields",
        "_max_body",
        "_max_head",
        "_only_2xx",
        "_pos",
        "_remaining",
        "_reusable",
        "_size",
        "_state",
        "headers",
        "reason",
        "status",
        "version",
    )

    def __init__(self, *, max_body: int = MAX_BODY, max_head: int = MAX_HEAD, only_2xx_bodies: bool = False) -> None:
        self._max_body = max_body
        self._only_2xx = only_2xx_bodies
        self._max_head = max_head
        self._buf = bytearray()
        self._pos = 0
        # The body, in one buffer it is received into: a 10k-series page is 1.2 MB, and a list of
        # reads joined at the end would touch twice the memory (each new page of it ~1.5 us here).
        self._body = bytearray()
        self._size = 0  # body bytes kept so far
        self._remaining = 0  # bytes left in the Content-Length body or the current chunk
        self._chunks = 0
        self._state = _HEAD
        # Whether the connection stays in step after this response: framing read to its end, no
        # byte beyond it, no body left unread (see keep_alive).
        self._reusable = True
        self.status = 0
        self.reason = ""
        self.version = ""
        self.headers: list[tuple[str, str]] = []
        self._fields: dict[str, str] = {}  # name -> value, repeated fields joined (what header() reads)

    @property
    def head_done(self) -> bool:
        return self._state != _HEAD

    @property
    def complete(self) -> bool:
        return self._state == _DONE

    @property
    def keep_alive(self) -> bool:
        """The connection may carry another request: the response is complete, its body was
        framed by Content-Length or chunked coding (or had none) and read to its end, nothing
        came after it, and neither side asked to close (HTTP/1.1 keeps a connection open unless
        ``Connection: close``; HTTP/1.0 closes it unless ``Connection: keep-alive``; RFC 9112
        §9.3). A body skipped by ``only_2xx_bodies`` is still on the wire: not reusable."""
        if self._state != _DONE or not self._reusable:
            return False
        connection = self._fields.get("connection")
        if connection is None:
            return self.version == "HTTP/1.1"
        tokens = [t.strip().lower() for t in connection.split(",")]
        if self.version == "HTTP/1.1":
            return "close" not in tokens
        return "keep-alive" in tokens

    def header(self, name: str) -> str | None:
        """The value of header ``name`` (lower case), repeated fields joined with ", " (RFC 9110 §5.3)."""
        return self._fields.get(name)

    def body(self) -> bytearray:
        """The body as sent (framing removed), in the buffer it was received into: not a copy."""
        return self._body

    def take_body(self) -> bytearray:
        """The body bytes received since the last call, handed over (for a reader that decodes the
        body as it arrives); the cap on the wire still counts every byte received."""
        body, self._body = self._body, bytearray()
        return body

    def release(self) -> None:
        """Drop the buffers now (a failed or abandoned response): a capped body may be 16 MiB,
        and an exception's traceback can keep the parser alive until a full collection."""
        self._body = bytearray()
        self._buf = bytearray()
        self._pos = 0

    def feed(self, data: bytes | bytearray | memoryview) -> bool:
        """Take the next bytes read; True once the whole response is in (later bytes are ignored).

        What is kept is copied: the caller may read into the same buffer again.
        """
        state = self._state
        if state == _HEAD and not self._buf and type(data) is bytes:
            return self._feed_head(data)
        if state == _LENGTH:
            if self._remaining > self._max_body:  # said by Content-Length, raised only once a body byte comes
                raise TooLargeError(
                    f"body of {self._remaining} bytes (Content-Length) over the {self._max_body}-byte cap",
                    limit=self._max_body,
                )
            self._keep(data if len(data) <= self._remaining else data[: self._remaining])
            self._remaining -= len(data)
            if self._remaining <= 0:
                self._state = _DONE
                if self._remaining < 0:
                    self._reusable = False  # bytes beyond the body: the connection is out of step
        elif state == _CLOSE:
            self._keep(data)
        elif state != _DONE:
            self._buf += data
            self._advance()
        elif data:
            self._reusable = False
        return self._state == _DONE

    def _feed_head(self, data: bytes) -> bool:
        """The common case first: a whole head at the start of one read, as ``bytes`` (an asyncio
        protocol's ``data_received``): parsed where it lies, not copied into the buffer first."""
        end = data.find(b"\r\n\r\n")
        if end == -1 or end > self._max_head or data.find(b"\n\n", 0, end) != -1:
            self._buf += data  # split across reads, too long, or bare-LF lines: the general path
            self._advance()
            return self._state == _DONE
        self._parse_head(data[:end])
        self._frame()
        rest = data[end + 4 :]
        if self._state == _HEAD:  # an interim 1xx answer: the real one follows
            return self.feed(rest) if rest else False
        if self._state == _DONE:
            if rest:
                self._reusable = False
            return True
        if self._state == _LENGTH and 0 < len(rest) <= self._remaining <= self._max_body:
            self._size = len(rest)  # the body, or its start, in the same read
            self._body += rest
            self._remaining -= len(rest)
            if self._remaining == 0:
                self._state = _DONE
                return True
            return False
        if self._state in (_LENGTH, _CLOSE):
            return self.feed(rest) if rest else False
        self._buf += rest
        self._advance()
        return self._state == _DONE

    def feed_eof(self) -> None:
        """The peer closed the connection: complete a read-until-close body, or say what was cut."""
        state = self._state
        if state == _CLOSE:
            self._state = _DONE
        elif state == _HEAD:
            if not self._buf and not self.status:
                raise ProtocolError("the server closed the connection without answering")
            raise ProtocolError(f"the connection closed inside the response head after {len(self._buf)} bytes")
        elif state == _LENGTH:
            total = self._size + self._remaining
            raise ProtocolError(f"the connection closed after {self._size} of {total} body bytes (Content-Length)")
        elif state != _DONE:
            raise ProtocolError(f"the connection closed inside the chunked body after {self._size} bytes")

    def _keep(self, data: bytes | bytearray | memoryview) -> None:
        if data:
            self._size += len(data)
            if self._size > self._max_body:
                raise TooLargeError(f"body over the {self._max_body}-byte cap", limit=self._max_body)
            self._body += data

    def _advance(self) -> None:
        while (step := _STEPS.get(self._state)) is not None and step(self):
            pass
        if self._state in (_LENGTH, _CLOSE):  # the head is parsed: the rest of the buffer is body
            rest = bytes(self._buf[self._pos :])
            self._buf.clear()
            self._pos = 0
            if rest:
                self.feed(rest)
        else:
            if self._state == _DONE and len(self._buf) > self._pos:
                self._reusable = False  # bytes beyond the response
            if self._pos:
                del self._buf[: self._pos]
                self._pos = 0

    def _line(self, cap: int, what: str) -> bytes | None:
        """The next line without its CRLF (or bare LF), or None until it is all in."""
        end = self._buf.find(b"\n", self._pos)
        if end == -1:
            if len(self._buf) - self._pos > cap:
                raise TooLargeError(f"{what} over the {cap}-byte cap", limit=cap)
            return None
        line = bytes(self._buf[self._pos : end])
        self._pos = end + 1
        return line[:-1] if line.endswith(b"\r") else line

    def _head(self) -> bool:
        buf = self._buf
        end = buf.find(b"\n\r\n", self._pos)
        bare = buf.find(b"\n\n", self._pos)
        if bare != -1 and (end == -1 or bare < end):
            end, skip = bare, 2
        else:
            skip = 3
        if end == -1 or end - self._pos > self._max_head:
            if len(buf) - self._pos > self._max_head:
                raise TooLargeError(f"response head over the {self._max_head}-byte cap", limit=self._max_head)
            return False
        head = bytes(buf[self._pos : end])
        self._pos = end + skip
        self._parse_head(head)
        self._frame()
        return True

    def _parse_head(self, head: bytes) -> None:
        lines = head.split(b"\n")
        self.version, self.status, self.reason = _status_line(lines[0].removesuffix(b"\r"))
        headers: list[tuple[str, str]] = []
        for raw in lines[1:]:
            line = raw.removesuffix(b"\r")
            if line[:1] in (b" ", b"\t"):  # obs-fold: a client replaces it with a space (RFC 9112 §5.2)
                if not headers:
                    raise ProtocolError(f"header continuation line {excerpt(line)} before any header")
                folded_name, folded = headers.pop()
                headers.append((folded_name, folded + " " + _field_value(line.strip(b" \t"), line)))
                continue
            name, colon, value = line.partition(b":")
            if not colon or not name or not _TOKEN.issuperset(name):
                raise ProtocolError(f"malformed header line {excerpt(line)}")
            value = value.strip(b" \t")
            if b"\r" in value or b"\0" in value:
                _field_value(value, line)  # raises, naming the line
            headers.append((name.decode("ascii").lower(), value.decode("latin-1")))
        if len(headers) > MAX_HEADERS:
            raise TooLargeError(f"response has {len(headers)} headers, over the cap of {MAX_HEADERS}")
        self.headers = headers
        fields: dict[str, str] = {}
        for key, text in headers:
            fields[key] = f"{fields[key]}, {text}" if key in fields else text
        self._fields = fields

    def _frame(self) -> None:
        """Decide how the body is delimited (RFC 9112 §6.3), in the order the RFC gives."""
        status = self.status
        if status < 200:
            if status == 101:
                raise ProtocolError("101 Switching Protocols to a request that asked for no upgrade")
            self._state = _HEAD  # an interim response: the real one follows
            return
        coding = self.header("transfer-encoding")
        length = self.header("content-length")
        if status in (204, 304) or (self._only_2xx and status >= 300):
            # A skipped body is still on the wire, unless it is known to be empty.
            self._reusable = status in (204, 304) or (
                coding is None and length is not None and _content_length(length) == 0
            )
            self._state = _DONE
            return
        if coding is not None:
            if [c.strip().lower() for c in coding.split(",")] != ["chunked"]:
                raise ProtocolError(f"unsupported Transfer-Encoding {excerpt(coding)} (only chunked)")
            self._state = _CHUNK_SIZE
        elif length is not None:
            self._remaining = _content_length(length)
            self._state = _LENGTH if self._remaining else _DONE
        else:
            self._reusable = False  # read until close: the end of the body is the end of the connection
            self._state = _CLOSE

    def _chunk_size(self) -> bool:
        line = self._line(MAX_CHUNK_LINE, "chunk-size line")
        if line is None:
            return False
        size = line.partition(b";")[0].strip(b" \t")  # chunk-ext after ';' is ignored (RFC 9112 §7.1.1)
        if not size or len(size) > 16 or not _HEX.issuperset(size):
            raise ProtocolError(f"malformed chunk-size line {excerpt(line)}")
        self._remaining = int(size, 16)
        self._chunks += 1
        if self._chunks > FREE_CHUNKS and self._size < self._chunks * MIN_CHUNK_AVERAGE:
            raise ProtocolError(
                f"chunked body of {self._size} bytes in {self._chunks} chunks: chunks under "
                f"{MIN_CHUNK_AVERAGE} bytes on average (a drip)"
            )
        if self._size + self._remaining > self._max_body:
            raise TooLargeError(f"body over the {self._max_body}-byte cap", limit=self._max_body)
        self._state = _CHUNK_DATA if self._remaining else _TRAILER
        return True

    def _chunk_data(self) -> bool:
        available = len(self._buf) - self._pos
        if not available:
            return False
        take = min(available, self._remaining)
        with memoryview(self._buf) as view:  # released before the buffer is resized
            self._keep(view[self._pos : self._pos + take])
        self._pos += take
        self._remaining -= take
        if self._remaining:
            return False
        self._state = _CHUNK_END
        return True

    def _chunk_end(self) -> bool:
        ending = bytes(self._buf[self._pos : self._pos + 2])
        if ending[:1] == b"\n" or ending == b"\r\n":
            self._pos += 1 if ending[:1] == b"\n" else 2
            self._state = _CHUNK_SIZE
            return True
        if ending == b"\r" or not ending:
            return False
        raise ProtocolError(f"chunk data not followed by CRLF: {excerpt(ending)}")

    def _trailer(self) -> bool:
        line = self._line(self._max_head, "trailer line")
        if line is None:
            return False
        if not line:
            self._state = _DONE
        return True


# What _advance runs in each state that reads from the buffer (set once, not per call).
_STEPS = {
    _HEAD: ResponseParser._head,
    _CHUNK_SIZE: ResponseParser._chunk_size,
    _CHUNK_DATA: ResponseParser._chunk_data,
    _CHUNK_END: ResponseParser._chunk_end,
    _TRAILER: ResponseParser._trailer,
}


def _status_line(line: bytes) -> tuple[str, int, str]:
    """``HTTP/1.1 200 OK`` -> ("HTTP/1.1", 200, "OK"); the reason may be empty or missing (RFC 9112 §4)."""
    version, _, rest = line.partition(b" ")
    code, _, reason = rest.partition(b" ")
    if not version.startswith(b"HTTP/"):
        raise ProtocolError(f"not an HTTP response: status line {excerpt(line)}")
    if version not in (b"HTTP/1.1", b"HTTP/1.0"):
        raise ProtocolError(f"unsupported HTTP version in status line {excerpt(line)}")
    if len(code) != 3 or not _DIGITS.issuperset(code) or code[0] == 0x30:
        raise ProtocolError(f"malformed status code in status line {excerpt(line)}")
    return version.decode("ascii"), int(code), reason.decode("latin-1")


def _field_value(value: bytes, line: bytes) -> str:
    if b"\r" in value or b"\0" in value:
        raise ProtocolError(f"header line {excerpt(line)} holds CR or NUL")
    return value.decode("latin-1")


def _content_length(text: str) -> int:
    if text.isdigit() and text.isascii() and len(text) <= 19:  # the usual one value
        return int(text)
    values = {v.strip() for v in text.split(",")}
    if len(values) != 1:
        raise ProtocolError(f"conflicting Content-Length values {excerpt(text)}")
    value = values.pop()
    if not value or len(value) > 19 or not _DIGITS.issuperset(value.encode()):
        raise ProtocolError(f"malformed Content-Length {excerpt(text)}")
    return int(value)


# Concatenated gzip members a body may have (RFC 1952 §2.2 allows any number). A metrics page is
# one member (Go's and Python's gzip writers make one); a thousand empty members are 20 KB of input
# that cost a decompressor each, so past this count the body is refused rather than decoded.
MAX_GZIP_MEMBERS = 1000
# One decoding step's work: input bytes fed and output bytes made before the caller gets control
# back (the agent runs other work between steps; a 1 MiB step is ~2-3 ms of zlib here).
STEP_INPUT = 256 * 1024
STEP_OUTPUT = 1024 * 1024
# What the decompressor is fed at a time at the start of a member, doubling while the member goes
# on: zlib copies the input left over after a member's end, so a small first window keeps the cost
# of many tiny members linear (the whole rest of the body used to be copied after each one).
_FIRST_WINDOW = 256
_MAX_WINDOW = 64 * 1024


def decode_body(body: bytes | bytearray, content_encoding: str | None, limit: int = MAX_BODY) -> bytes | bytearray:
    """Undo the Content-Encoding: identity (the body itself) or gzip (the one we ask for), capped at
    ``limit`` bytes.

    A gzip bomb stops at the cap: zlib is asked for at most ``limit + 1`` bytes, never for all.
    Concatenated gzip members are decoded in turn (RFC 1952 §2.2), at most
    ``MAX_GZIP_MEMBERS``; trailing zero padding is ignored. The cost is linear in the body's
    size (see :func:`decode_steps`, which does the same a bounded step at a time).
    """
    steps = decode_steps(body, content_encoding, limit)
    try:
        while True:
            next(steps)
    except StopIteration as done:
        decoded: bytes | bytearray = done.value
        return decoded


def decode_steps(
    body: bytes | bytearray, content_encoding: str | None, limit: int = MAX_BODY
) -> Generator[None, None, bytes | bytearray]:
    """:func:`decode_body` as a generator: it yields after each bounded step (``STEP_INPUT``
    bytes in or ``STEP_OUTPUT`` out) and returns the body (the value of its
    ``StopIteration``), so a caller can do other work, or give up at a deadline, between steps."""
    coding = (content_encoding or "identity").strip().lower()
    if coding == "identity":
        return body
    if coding not in ("gzip", "x-gzip"):
        raise ProtocolError(f"unsupported Content-Encoding {excerpt(coding)} (asked for gzip)")
    return (yield from _gunzip_steps(body, limit))


def _gunzip_steps(body: bytes | bytearray, limit: int) -> Generator[None, None, bytes]:
    """The decompressed body (returned), yielding after each step; raise ProtocolError for a
    corrupt, truncated or many-membered body and TooLargeError past ``limit`` bytes."""
    stream = GunzipStream(limit)
    stream.feed(body)
    while stream.step():
        yield
    return stream.finish()


class GunzipStream:
    """A gzip body decoded as it arrives, a bounded step at a time (pure: bytes in, bytes out).

    ``feed`` takes the next bytes of the body as sent (it keeps them, not a copy: the caller
    hands them over); ``step`` decodes at most ``STEP_INPUT`` bytes in or ``STEP_OUTPUT`` out and
    says whether fed input is left; ``finish``, once the body has ended and no input is left,
    returns the decoded body. The caps hold while the body is still arriving, so a reader can stop
    at once: past ``MAX_GZIP_MEMBERS`` members (``ProtocolError``, after ~20 KB of a flood of empty
    members) or ``limit`` decoded bytes (``TooLargeError``); a corrupt member raises
    ``ProtocolError`` at its first bad byte. Trailing zero padding is ignored."""

    __slots__ = ("_buf", "_inflater", "_limit", "_members", "_out", "_padding", "_pos", "_total", "_window")

    def __init__(self, limit: int = MAX_BODY) -> None:
        self._limit = limit
        self._buf: bytes | bytearray = b""
        self._pos = 0
        self._out: list[bytes] = []
        self._total = 0  # decoded bytes so far
        self._members = 0
        self._inflater: Any = None  # the current member's decompressor (zlib is imported lazily)
        self._window = _FIRST_WINDOW
        self._padding = False  # zero bytes after the last member: nothing else may follow

    @property
    def decoded(self) -> int:
        return self._total

    @property
    def pending(self) -> int:
        """Fed bytes not decoded yet."""
        return len(self._buf) - self._pos

    def feed(self, data: bytes | bytearray) -> None:
        if self._pos < len(self._buf):
            self._buf = self._buf[self._pos :] + data
        else:
            self._buf = data
        self._pos = 0

    def step(self) -> bool:
        """Decode one bounded step of what was fed; True while fed input is left."""
        step_in = step_out = 0
        with memoryview(self._buf) as view:
            while self._pos < len(self._buf):
                if self._inflater is None and not self._start_member():
                    break
                used, made = self._inflate(view)
                step_in += used
                step_out += made
                if step_in >= STEP_INPUT or step_out >= STEP_OUTPUT:
                    break
        return self._pos < len(self._buf)

    def finish(self) -> bytes:
        """The decoded body, once the body has ended and :meth:`step` has used every byte fed."""
        if self._inflater is not None or self.pending:
            raise ProtocolError(f"truncated gzip body: it ends after {self._total} decompressed bytes")
        out, self._out = self._out, []
        self._buf = b""
        return b"".join(out)

    def _start_member(self) -> bool:
        """A new member at the read position; False when the rest fed so far is zero padding."""
        buf, pos = self._buf, self._pos
        if buf[pos] == 0 and buf.count(0, pos) == len(buf) - pos:
            self._pos = len(buf)  # trailing zero padding (so far)
            self._padding = True
            return False
        if self._padding:
            raise ProtocolError("corrupt gzip body: bytes after its trailing zero padding")
        self._members += 1
        if self._members > MAX_GZIP_MEMBERS:
            raise ProtocolError(f"gzip body of more than {MAX_GZIP_MEMBERS} members (a page is one)")
        import zlib

        self._inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        self._window = _FIRST_WINDOW
        return True

    def _inflate(self, view: memoryview) -> tuple[int, int]:
        """Feed the current member one window of input; (bytes used, bytes made)."""
        import zlib

        inflater, limit = self._inflater, self._limit
        piece = view[self._pos : self._pos + self._window]
        try:
            chunk = inflater.decompress(piece, min(limit - self._total + 1, STEP_OUTPUT))
        except zlib.error as exc:
            raise ProtocolError(f"corrupt gzip body: {exc}") from None
        left = len(inflater.unconsumed_tail) + len(inflater.unused_data)
        used = len(piece) - left
        self._pos += used
        self._total += len(chunk)
        if self._total > limit:
            raise TooLargeError(f"gzip body inflates past the {limit}-byte cap", limit=limit)
        self._out.append(chunk)
        if inflater.eof:
            self._inflater = None
        elif not left:
            self._window = min(self._window * 2, _MAX_WINDOW)
        return used, len(chunk)
