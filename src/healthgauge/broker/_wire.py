"""HTTP/1.1 as a proxy reads and writes it, without I/O: heads parsed from bytes, bodies framed
and unframed in pieces as they arrive (nothing is buffered whole), heads rebuilt for the next hop.

The client side of the project (``_http11.py``) keeps a whole response body for a probe; a proxy
must not, so this module streams: :class:`BodyReader` turns the bytes read into payload pieces and
says when the message ends. Rules from RFC 9112 (message syntax) and RFC 9110 (semantics):

- a head ends at the first empty line; a bare LF is not accepted from a client (request smuggling
  hides in lenient line endings, RFC 9112 §2.2 allows rejecting it);
- Transfer-Encoding wins over Content-Length, and a request with both is refused (§6.3 rule 3:
  a proxy must not forward it); differing Content-Length values are an error (§6.3 rule 5);
- hop-by-hop fields (RFC 9110 §7.6.1: ``Connection`` and every field it names, ``Proxy-Connection``,
  ``Keep-Alive``, ``TE``, ``Transfer-Encoding``, ``Upgrade``) are dropped on the way through, and
  the proxy adds its own ``Via`` (§7.6.3);
- the chunked coding is removed on receipt and applied again on sending; trailers are dropped (a
  recipient that removes the chunked coding may discard them, RFC 9110 §6.5.1).
"""

from __future__ import annotations

import re

__all__ = [
    "HOP_BY_HOP",
    "BodyReader",
    "Head",
    "WireError",
    "chunk",
    "find_head_end",
    "parse_request_head",
    "parse_response_head",
    "render_head",
]

# A head (request or status line plus fields): Node.js and h11 cap it at 16 KiB and 64 KiB; HAProxy's
# default buffer is 16 KiB, so nothing bigger reaches us through it anyway. 64 KiB as h11.
MAX_HEAD = 64 * 1024
# Fields in one head: Python's http.client reads at most 100.
MAX_HEADERS = 100
# A chunk-size line with its extensions: nginx reads chunk sizes into a 4 KiB line buffer.
MAX_CHUNK_LINE = 4096

HOP_BY_HOP = frozenset(
    (b"connection", b"proxy-connection", b"keep-alive", b"te", b"transfer-encoding", b"upgrade", b"trailer")
)
_TOKEN = frozenset(b"!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_HEX = frozenset(b"0123456789abcdefABCDEF")
_DIGITS = frozenset(b"0123456789")

# Framing of a body (RFC 9112 §6.3): none, a known length, chunked, or until the connection closes.
NONE, LENGTH, CHUNKED, CLOSE = range(4)


class WireError(Exception):
    """A message that cannot be read or forwarded; ``status`` is what to answer the sender (400,
    431, 501) when it is a client's request, ``str()`` says what is wrong and where."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def _excerpt(data: bytes, width: int = 60) -> str:
    text = data.decode("latin-1")
    return repr(text if len(text) <= width else text[:width] + "...")


class Head:
    """A parsed request or response head. ``headers`` keep their order and spelling, names lower
    case; ``fields`` joins repeated ones (RFC 9110 §5.3). ``framing``/``length`` say how the body
    is delimited; ``keep_alive`` whether the connection may carry another message after it."""

    __slots__ = (
        "fields",
        "framing",
        "headers",
        "keep_alive",
        "length",
        "method",
        "reason",
        "status",
        "target",
        "version",
    )

    def __init__(self) -> None:
        self.method = b""
        self.target = b""
        self.version = b"HTTP/1.1"
        self.status = 0
        self.reason = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.fields: dict[bytes, bytes] = {}
        self.framing = NONE
        self.length = 0
        self.keep_alive = True

    def get(self, name: bytes) -> bytes | None:
        return self.fields.get(name)


def find_head_end(buf: bytes | bytearray, start: int = 0) -> int:
    """The index just past the head's empty line, or -1 while it is not all in; raises 431 when
    the head is longer than `MAX_HEAD`."""
    end = buf.find(b"\r\n\r\n", start)
    if end == -1:
        if len(buf) - start > MAX_HEAD:
            raise WireError(f"head over the {MAX_HEAD}-byte cap", 431)
        return -1
    if end - start > MAX_HEAD:
        raise WireError(f"head over the {MAX_HEAD}-byte cap", 431)
    return end + 4


# A whole block of well-formed field lines (RFC 9110 §5.1 token, colon, a value without CR, LF or
# NUL), checked in one pass in C; a block that fails is walked line by line to say what is wrong.
_BLOCK = re.compile(rb"(?:[-!#$%&'*+.^_`|~0-9A-Za-z]+:[^\r\n\x00]*\r\n)*")


def _fields(head: Head, lines: list[bytes]) -> None:
    if len(lines) > MAX_HEADERS:
        raise WireError(f"{len(lines)} header fields, over the cap of {MAX_HEADERS}", 431)
    headers = head.headers
    fields = head.fields
    if lines and _BLOCK.fullmatch(b"\r\n".join(lines) + b"\r\n"):
        for line in lines:
            name, _, value = line.partition(b":")
            name = name.lower()
            value = value.strip(b" \t")
            headers.append((name, value))
            fields[name] = fields[name] + b", " + value if name in fields else value
        return
    for line in lines:
        name, colon, value = line.partition(b":")
        if not colon or not name or not _TOKEN.issuperset(name):
            raise WireError(f"malformed header line {_excerpt(line)}")
        value = value.strip(b" \t")
        if b"\r" in value or b"\n" in value or b"\0" in value:
            raise WireError(f"header line {_excerpt(line)} holds CR, LF or NUL")
        name = name.lower()
        headers.append((name, value))
        fields[name] = fields[name] + b", " + value if name in fields else value


def _connection_tokens(head: Head) -> set[bytes]:
    value = head.fields.get(b"connection")
    return {t.strip().lower() for t in value.split(b",")} if value is not None else set()


def _content_length(value: bytes) -> int:
    if not value.isdigit():
        values = {v.strip() for v in value.split(b",")}
        if len(values) != 1:
            raise WireError(f"conflicting Content-Length values {_excerpt(value)}")
        value = values.pop()
    if not value or len(value) > 18 or not _DIGITS.issuperset(value):
        raise WireError(f"malformed Content-Length {_excerpt(value)}")
    return int(value)


def _body_framing(head: Head, *, request: bool) -> None:
    coding = head.fields.get(b"transfer-encoding")
    length = head.fields.get(b"content-length")
    if coding is not None:
        if request and length is not None:
            raise WireError("both Transfer-Encoding and Content-Length (RFC 9112 §6.3: not forwarded)")
        if [c.strip().lower() for c in coding.split(b",")] != [b"chunked"]:
            raise WireError(f"unsupported Transfer-Encoding {_excerpt(coding)} (only chunked)", 501)
        head.framing = CHUNKED
    elif length is not None:
        head.length = _content_length(length)
        head.framing = LENGTH if head.length else NONE
    else:
        head.framing = NONE if request else CLOSE


def parse_request_head(data: bytes) -> Head:
    """A request head (without its final empty line): ``GET /x HTTP/1.1`` and its fields."""
    lines = data.split(b"\r\n")
    parts = lines[0].split(b" ")
    if len(parts) != 3 or not parts[0] or not _TOKEN.issuperset(parts[0]) or not parts[1]:
        raise WireError(f"malformed request line {_excerpt(lines[0])}")
    head = Head()
    head.method, head.target, head.version = parts
    if head.version not in (b"HTTP/1.1", b"HTTP/1.0"):
        raise WireError(f"unsupported HTTP version in request line {_excerpt(lines[0])}", 505)
    _fields(head, lines[1:] if lines[-1] else lines[1:-1])
    if head.version == b"HTTP/1.1" and b"host" not in head.fields:
        raise WireError("an HTTP/1.1 request without Host (RFC 9112 §3.2)")
    _body_framing(head, request=True)
    tokens = _connection_tokens(head)
    head.keep_alive = b"close" not in tokens if head.version == b"HTTP/1.1" else b"keep-alive" in tokens
    return head


def parse_response_head(data: bytes, *, method: bytes = b"GET") -> Head:
    """A response head (without its final empty line); ``method`` of the request it answers
    decides whether a body follows (HEAD: never)."""
    lines = data.split(b"\r\n")
    version, _, rest = lines[0].partition(b" ")
    code, _, reason = rest.partition(b" ")
    if version not in (b"HTTP/1.1", b"HTTP/1.0"):
        raise WireError(f"not an HTTP/1.x status line {_excerpt(lines[0])}", 502)
    if len(code) != 3 or not code.isdigit():
        raise WireError(f"malformed status code in {_excerpt(lines[0])}", 502)
    head = Head()
    head.version, head.status, head.reason = version, int(code), reason
    try:
        _fields(head, lines[1:])
        _body_framing(head, request=False)
    except WireError as exc:
        raise WireError(str(exc), 502) from None
    if head.status < 200 or head.status in (204, 304) or method == b"HEAD":
        head.framing, head.length = NONE, 0
    tokens = _connection_tokens(head)
    head.keep_alive = (b"close" not in tokens if version == b"HTTP/1.1" else b"keep-alive" in tokens) and (
        head.framing != CLOSE
    )
    return head


def render_head(
    first_line: bytes,
    head: Head,
    extra: list[tuple[bytes, bytes]],
    framing: int,
    length: int,
    drop: frozenset[bytes] = frozenset(),
) -> bytes:
    """``first_line`` then ``head``'s end-to-end fields (hop-by-hop, Content-Length and ``drop``
    left out), then ``extra``, then the framing of the body as it will be sent."""
    named = _connection_tokens(head)
    out = [first_line]
    skip = HOP_BY_HOP
    for name, value in head.headers:
        if name in skip or name == b"content-length" or name in drop or (named and name in named):
            continue
        out.append(name + b": " + value)
    out.extend(name + b": " + value for name, value in extra)
    if framing == LENGTH:
        out.append(b"content-length: %d" % length)
    elif framing == CHUNKED:
        out.append(b"transfer-encoding: chunked")
    out.append(b"\r\n")
    return b"\r\n".join(out)


def chunk(data: bytes | memoryview) -> list[bytes | memoryview]:
    """One piece of a body in the chunked coding (RFC 9112 §7.1)."""
    return [b"%x\r\n" % len(data), data, b"\r\n"]


LAST_CHUNK = b"0\r\n\r\n"


class BodyReader:
    """A body's payload from the bytes read, piece by piece.

    ``feed(data)`` returns ``(pieces, used)``: the payload found in ``data[:used]``; bytes past
    ``used`` belong to the next message. :attr:`done` is True once the body ended; a ``CLOSE`` body
    ends with :meth:`feed_eof`.
    """

    __slots__ = ("_line", "_remaining", "_state", "done", "framing", "received")

    # Chunked states: a size line, data, the CRLF after data, trailer lines.
    _SIZE, _DATA, _DATA_END, _TRAILER = range(4)

    def __init__(self, framing: int, length: int = 0) -> None:
        self.framing = framing
        self._remaining = length
        self._state = self._SIZE
        self._line = bytearray()
        self.received = 0
        self.done = framing == NONE

    def feed(self, data: bytes | memoryview) -> tuple[list[bytes | memoryview], int]:
        if self.done or not data:
            return [], 0
        if self.framing == LENGTH:
            take = min(len(data), self._remaining)
            self._remaining -= take
            self.received += take
            self.done = self._remaining == 0
            return [data if take == len(data) else data[:take]], take
        if self.framing == CLOSE:
            self.received += len(data)
            return [data], len(data)
        return self._chunked(data if isinstance(data, bytes) else bytes(data))

    def feed_eof(self) -> None:
        """The sender closed: the end of a ``CLOSE`` body, else a message cut short."""
        if self.done:
            return
        if self.framing == CLOSE:
            self.done = True
            return
        raise WireError(f"the connection closed inside the body after {self.received} bytes", 502)

    def _chunked(self, buf: bytes) -> tuple[list[bytes | memoryview], int]:
        pieces: list[bytes | memoryview] = []
        view = memoryview(buf)
        pos, end = 0, len(buf)
        while pos < end and not self.done:
            if self._state == self._DATA:
                take = min(end - pos, self._remaining)
                pieces.append(view[pos : pos + take])
                pos += take
                self._remaining -= take
                self.received += take
                if not self._remaining:
                    self._state = self._DATA_END
                continue
            nl = buf.find(b"\n", pos)
            if nl == -1:
                self._line += view[pos:]
                if len(self._line) > MAX_CHUNK_LINE:
                    raise WireError(f"chunk line over the {MAX_CHUNK_LINE}-byte cap")
                return pieces, end
            self._line += view[pos:nl]
            pos = nl + 1
            line = bytes(self._line).removesuffix(b"\r")
            self._line.clear()
            self._line_done(line)
        return pieces, pos

    def _line_done(self, line: bytes) -> None:
        if self._state == self._DATA_END:
            if line:
                raise WireError(f"chunk data not followed by CRLF: {_excerpt(line)}")
            self._state = self._SIZE
        elif self._state == self._SIZE:
            size = line.partition(b";")[0].strip(b" \t")  # chunk-ext is ignored (RFC 9112 §7.1.1)
            if not size or len(size) > 15 or not _HEX.issuperset(size):
                raise WireError(f"malformed chunk-size line {_excerpt(line)}")
            self._remaining = int(size, 16)
            self._state = self._DATA if self._remaining else self._TRAILER
        elif not line:  # the empty line after the trailer fields
            self.done = True
