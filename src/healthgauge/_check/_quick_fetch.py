"""The quick path's page: the answer to the GET ``_quick`` sent, received into one buffer, and the
lines of the metrics the conditions read, in the form exporters write (``_quick`` says when it answers).

Failures to read are said in ``healthgauge.http.fetch``'s words (``_quick._recv``'s); anything
else about the response (a redirect, another status, chunked framing, several gzip members, a line
in another form) is handed over to the full path with every byte received, never fetched again.
"""

import _socket
from time import monotonic, time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from mmap import mmap

    from ._quick_eval import Labels, Page

    Plan = list[tuple[str, bool, tuple[object, ...]]]
    Handover = tuple[float, _socket.socket | None, bytes]
    Recv = Callable[[_socket.socket, bytearray | memoryview, float, str], int]
    Head = tuple[int, int | None, str, str]  # head size, Content-Length, Content-Encoding, Content-Type
    Body = bytearray | mmap  # a big body's is a mapping (_buffer)

# The full path's caps and constants, restated so this module imports nothing (tests/check/test_quick.py
# checks each against its source).
MAX_BODY = 16 * 1024 * 1024  # healthgauge.http._http11.MAX_BODY
MAX_HEAD = 64 * 1024  # healthgauge.http._http11.MAX_HEAD
MAX_LINE = 64 * 1024  # healthgauge.exposition DEFAULT_MAX_LINE_CHARS
MAX_SERIES = 200_000  # healthgauge.exposition DEFAULT_MAX_SERIES
FAMILY_SUFFIXES = ("_total", "_created", "_bucket", "_count", "_sum", "_gcount", "_gsum", "_info")
_RECV_SIZE = 64 * 1024  # a read of a body of unknown length (chunked, or to the close)
# The first reads: a small page's whole response; 16 pages fewer to fault in than _RECV_SIZE (~2 us
# a fresh page on this project's VM), as a body of known length goes straight into its own buffer.
_HEAD_READ = 16 * 1024
_HUGE_PAGE = 2 * 1024 * 1024  # x86-64's and arm64's (4 KiB pages) transparent huge page
_HUGE_FROM = 512 * 1024  # a body over this is received into huge pages (_buffer): ~128 faults saved pay for `mmap`
_NAME_BYTES = b":0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz"
_LONGEST_SUFFIX = 8
_INF = float("inf")
CHUNKED = -1  # the Content-Length of a head whose body is chunked
# "Not for the quick path: the full path answers" (a built-in class: creating one costs).
Unsure = NotImplementedError


# -- the fetch ------------------------------------------------------------------------------------


def check(
    sock: _socket.socket,
    recv: "Recv",
    times: "tuple[float, float]",
    shown: str,
    plan: "Plan",
    names: "set[str]",
    verbose: bool,
) -> "tuple[int, str, Handover | None]":
    """Receive the answer to the request sent on ``sock``, read and judge it: (exit code, output,
    None), or a handover for the full path. ``recv`` is ``_quick._recv``, which words its failures;
    ``times`` is (when the fetch started, its deadline)."""
    started, deadline = times
    try:
        raw_head, body, head, received = _receive(sock, deadline, recv)
    except OSError as exc:  # the fetch failed: said here as the full path says it (_quick._recv's words)
        return 2, f"FAIL - cannot read {shown}: {exc.args[0]}\n", None
    if head is None:
        return 0, "", (deadline, sock, raw_head + received)
    scraped = time()
    fetched = monotonic()
    try:
        status, text = answer(plan, names, body, head, scraped, verbose, shown, (started, fetched, deadline))
    except Unsure:
        return 0, "", (deadline, sock, raw_head + received)
    except TimeoutError as exc:
        return 2, f"FAIL - {exc.args[0]} {shown}: deadline passed ({exc.args[1]})\n", None
    except OverflowError as exc:
        return 2, f"FAIL - cannot read {shown}: {exc.args[0]}\n", None
    return status, text, None


def _receive(sock: _socket.socket, deadline: float, recv: "Recv") -> "tuple[bytes, Body, Head | None, Body]":
    """The response: (its head, its body, (head size, Content-Length, coding, content type), the
    body as received); with a head this module does not read, or a body that ended early, the head
    is None. The head and the body as received are every byte received: what a handover passes on.

    A body of known length is received straight into one buffer of its size: a 10k-series page
    (1.2 MB) is neither copied nor reallocated on its way in (fresh memory costs ~1.5 us a page).
    """
    data = bytearray()
    buffer = bytearray(_HEAD_READ)
    while True:
        size = recv(sock, buffer, deadline, "read headers")
        if not size:
            return bytes(data), bytearray(), None, bytearray()
        data += memoryview(buffer)[:size]
        end = data.find(b"\r\n\r\n")
        if end >= 0:
            break
        if len(data) > MAX_HEAD or b"\n\n" in data:
            return bytes(data), bytearray(), None, bytearray()
    raw_head = bytes(data[: end + 4])
    head = _head(raw_head[:end], end + 4) if end + 4 <= MAX_HEAD else None
    if head is not None and head[1] == CHUNKED:
        return _receive_chunks(sock, deadline, raw_head, data[end + 4 :], head, bytearray(_RECV_SIZE), recv)
    if head is None or (head[1] is not None and len(data) - end - 4 > head[1]):
        return bytes(data), bytearray(), None, bytearray()
    if head[1] is None:  # read to the close
        body = data[end + 4 :]
        buffer = bytearray(_RECV_SIZE)
        while size := recv(sock, buffer, deadline, "read body"):
            body += memoryview(buffer)[:size]
            if len(body) > MAX_BODY:
                return raw_head, body, None, body
        return raw_head, body, head, body
    length = head[1]
    big = _buffer(length) if length > _HUGE_FROM and head[2] in ("", "identity") else bytearray(length)
    filled = len(data) - end - 4
    big[:filled] = memoryview(data)[end + 4 :]
    view = memoryview(big)
    while filled < length:
        size = recv(sock, view[filled:], deadline, "read body")
        if not size:
            received = bytearray(big[:filled])
            return raw_head, received, None, received  # ended early: the full path says how
        filled += size
    view.release()
    if not isinstance(big, bytearray):
        big.resize(length)  # the pages stay: only the mapping's tail past the body goes
    return raw_head, big, head, big


def _buffer(length: int) -> "Body":
    """Memory for a big body: a mapping of whole 2 MiB pages (cut to ``length`` once filled), which
    the kernel may back with huge pages (``MADV_HUGEPAGE``): a 10k-series page (1.2 MB) then costs a
    few page faults instead of ~300 (~0.5 ms here, ``bench/check.py``). A bytearray where that fails."""
    try:
        if TYPE_CHECKING:
            import mmap
        else:  # not `import mmap`: loaded without the path's search (the package says why)
            from . import load_extension

            mmap = load_extension("mmap")
        buffer = mmap.mmap(-1, -(-length // _HUGE_PAGE) * _HUGE_PAGE, mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
        buffer.madvise(mmap.MADV_HUGEPAGE)
    except (ImportError, OSError, AttributeError, ValueError):
        return bytearray(length)
    return buffer


def _receive_chunks(
    sock: _socket.socket,
    deadline: float,
    raw_head: bytes,
    raw: bytearray,
    head: "Head",
    buffer: bytearray,
    recv: "Recv",
) -> "tuple[bytes, bytearray, Head | None, bytearray]":
    """A chunked body (Go's exporters send one for a page of unknown length): the chunks as they
    come, each only once it is whole; anything but plain chunks (extensions, trailers, a bare LF)
    hands the raw bytes over, for the full parser to read or refuse."""
    body = bytearray()
    at = 0
    while True:
        try:
            at = _dechunk(raw, at, body)
        except Unsure:
            return raw_head, raw, None, raw
        if at < 0:
            return raw_head, body, head, raw
        size = recv(sock, buffer, deadline, "read body")
        if not size:
            return raw_head, raw, None, raw  # ended early: the full path says how
        raw += memoryview(buffer)[:size]


def _dechunk(raw: bytearray, at: int, body: bytearray) -> int:
    """Move the whole chunks of ``raw[at:]`` into ``body``: where the next one starts, or -1 once
    the last (empty) chunk is in; Unsure for anything but ``<hex size>CRLF<data>CRLF`` chunks."""
    while True:
        newline = raw.find(b"\n", at, at + 18)
        if newline < 0:
            if len(raw) - at >= 18:
                raise Unsure  # a size line longer than 16 hex digits, or not one
            return at
        eol = newline - 1
        if eol < at or raw[eol] != 13:
            raise Unsure  # a bare LF: the full parser reads it
        size_text = raw[at:eol]
        if not size_text or size_text.strip(b"0123456789abcdefABCDEF"):
            raise Unsure
        size = int(size_text, 16)
        end = eol + 2 + size
        if len(raw) < end + 2:
            return at
        if raw[end : end + 2] != b"\r\n":
            raise Unsure  # data not followed by CRLF, or (after the last chunk) a trailer
        if not size:
            return -1
        body += memoryview(raw)[eol + 2 : end]
        if len(body) > MAX_BODY:
            raise Unsure
        at = end + 2


def _head(raw: bytes, start: int) -> "Head | None":
    """(body start, Content-Length (None: read to the close; CHUNKED), Content-Encoding, Content-Type)
    of a plain 200, else None."""
    lines = raw.split(b"\r\n")
    if lines[0][:13] not in (b"HTTP/1.1 200 ", b"HTTP/1.0 200 ") and lines[0] not in (b"HTTP/1.1 200", b"HTTP/1.0 200"):
        return None
    if len(lines) > 101:
        return None
    length = None
    coding = content_type = ""
    chunked = False
    for line in lines[1:]:
        name, colon, value = line.partition(b":")
        if (
            not colon
            or not name
            or name.strip(b"!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
        ):
            return None
        key = name.lower()
        text = value.strip(b" \t").decode("latin-1")
        if not text.isprintable():
            return None  # control characters (a bare CR or LF among them): the full parser's rules
        if key == b"content-length":
            if length is not None or not text.isascii() or not text.isdigit() or len(text) > 12:
                return None
            length = int(text)
        elif key == b"transfer-encoding":
            if chunked or text.lower() != "chunked":
                return None
            chunked = True
        elif key == b"content-encoding" and coding:
            return None
        elif key == b"content-encoding":
            coding = text
        elif key == b"content-type":
            content_type = text if not content_type else content_type + ", " + text
    if coding.lower() not in ("", "identity", "gzip") or (length is not None and length > MAX_BODY):
        return None
    if chunked:
        return None if length is not None else (start, CHUNKED, coding, content_type)
    return start, length, coding, content_type


# -- the page -------------------------------------------------------------------------------------


def answer(
    plan: "Plan",
    names: "set[str]",
    raw: "bytes | Body",
    head: "Head",
    scraped: float,
    verbose: bool,
    shown: str,
    times: "tuple[float, float, float]",
) -> "tuple[int, str]":
    """The exit code and output for a body as received; Unsure when the full path must say it, and
    TimeoutError (what could not be done, and while doing what) when the deadline passes."""
    from ._quick_eval import judge, render

    started, fetched, deadline = times
    coding, content_type = head[2], head[3]
    body = raw
    if coding.lower() == "gzip":
        assert isinstance(raw, (bytes, bytearray))  # only an identity body is received into a mapping
        body = _gunzip(raw)
    page, count = read_page(body, content_type, names, deadline)
    if monotonic() > deadline:
        raise TimeoutError("cannot read", "parsing the page")
    now = time()
    results = judge(plan, page, scraped, now)
    if monotonic() > deadline:
        raise TimeoutError("cannot judge", "evaluating the conditions")
    details = ""
    if verbose:
        parse_s = monotonic() - fetched
        details = (
            f"fetched {shown}: HTTP 200, {len(body)} bytes{f' ({coding})' if coding else ''} "
            f"in {(fetched - started) * 1000:.1f} ms; "
            f"parsed {count} sample{'' if count == 1 else 's'} of {', '.join(sorted(names))} in {parse_s * 1000:.1f} ms"
        )
    return render(results, verbose, details)


def _gunzip(raw: "bytes | bytearray") -> bytes:
    """One gzip member (what servers send), capped as the full path caps it; Unsure for anything else."""
    if TYPE_CHECKING:
        import zlib
    else:  # loaded without the path's search, as `mmap` is (_buffer)
        from . import load_extension

        zlib = load_extension("zlib")
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        body = inflater.decompress(raw, MAX_BODY + 1)
    except zlib.error:
        raise Unsure from None
    if len(body) > MAX_BODY:  # a gzip bomb: said here in the full path's words, not inflated twice
        raise OverflowError(f"gzip body inflates past the {MAX_BODY}-byte cap")
    if not inflater.eof or inflater.unused_data.strip(b"\0") or not raw.strip(b"\0"):
        raise Unsure
    return body


def read_page(body: "bytes | Body", content_type: str, names: "set[str]", deadline: float = _INF) -> "tuple[Page, int]":
    """The samples of the lines the names select (the full path's rule), each in the form exporters
    write; Unsure for any other form, so the full parser decides (and words any error)."""
    media = content_type.partition(";")[0].strip().lower()
    if media not in ("", "text/plain", "application/openmetrics-text") or "," in content_type:
        raise Unsure
    if media == "application/openmetrics-text" and not _ends_with_eof(body):
        raise Unsure
    page: Page = {name: [] for name in names}
    seen: set[tuple[str, Labels]] = set()
    count = 0
    for start in select(body, names):
        end = body.find(b"\n", start)
        line = body[start : end if end >= 0 else len(body)]
        try:
            name, pairs, value = sample(line.decode())
        except (UnicodeDecodeError, ValueError):
            raise Unsure from None
        labels = tuple(sorted((*pairs, ("__name__", name))))
        if (name, labels) in seen:
            raise Unsure  # a duplicate series: the full parser's error
        seen.add((name, labels))
        count += 1
        if count > MAX_SERIES:
            raise Unsure
        if not count & 4095 and monotonic() > deadline:
            raise TimeoutError("cannot read", "parsing the page")
        if name in page:
            page[name].append((labels, dict(pairs), value))
    return page, count


def _ends_with_eof(data: "bytes | Body") -> bool:
    tail = bytes(data[-7:]).removesuffix(b"\n")
    return tail == b"# EOF" or tail.endswith(b"\n# EOF")


def select(data: "bytes | Body", names: "set[str]") -> "list[int]":
    """Offsets of the lines that start with a selected series name (``healthgauge.exposition``'s
    ``names=`` rule: the name, or the name and a family suffix, then a character that cannot go on
    a name), in page order."""
    starts = set()
    for name in sorted(names):
        base = name.encode()
        wanted = {base, *(base + s.encode() for s in FAMILY_SUFFIXES)}
        size = len(base)
        pattern = b"\n" + base
        hit = 0 if data[:size] == base else -1  # data may be an mmap (no startswith)
        pos = 0
        while True:
            if hit >= 0:
                window = data[hit + size : hit + size + _LONGEST_SUFFIX + 1]
                rest = len(window) - len(window.lstrip(_NAME_BYTES))
                if rest <= _LONGEST_SUFFIX and base + window[:rest] in wanted:
                    starts.add(hit)
                pos = hit + size
            found = data.find(pattern, pos)
            if found < 0:
                break
            hit = found + 1
    return sorted(starts)


def sample(line: str) -> "tuple[str, Labels, float]":
    """``name{a="x",b="y"} value`` or ``name value`` -> (name, label pairs, value); Unsure otherwise."""
    if len(line) > MAX_LINE or "\\" in line:
        raise Unsure
    brace = line.find("{")
    if brace < 0 or brace > line.find(" ") >= 0:
        name, space, token = line.partition(" ")
        pairs: Labels = ()
        if not space:
            raise Unsure
    else:
        name = line[:brace]
        parts = line[brace + 1 :].split('"')
        if len(parts) < 3 or not len(parts) & 1:
            raise Unsure
        found = []
        for i in range(1, len(parts) - 1, 2):
            front, value = parts[i - 1], parts[i]
            if i > 1:
                if front[:1] != ",":
                    raise Unsure
                front = front[1:]
            key = front[:-1]
            if front[-1:] != "=" or not value or not key.isascii() or not key.isidentifier() or key == "__name__":
                raise Unsure
            found.append((key, value))
        if parts[-1][:2] != "} " or len({key for key, _ in found}) != len(found):
            raise Unsure
        token = parts[-1][2:]
        pairs = tuple(found)
    if " " in token or not name.isascii() or not name.replace(":", "_").isidentifier():
        raise Unsure
    return name, pairs, _number(token)


def _number(token: str) -> float:
    if token in ("NaN", "+Inf", "-Inf"):
        return float(token)
    if not token or token.strip("0123456789.eE+-"):
        raise Unsure
    value = float(token)  # ValueError for what Go refuses too ("1e", "+-1")
    if value - value:
        raise Unsure  # out of range: the full parser says what Prometheus does
    return value
