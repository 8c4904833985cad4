"""The quick path of ``healthgauge check``: the common conditions answered without loading the
general machinery (the HTTP client and its error tree, the exposition parser, the evaluator).

A probe runs hundreds of times a second, and most of what the full path costs is loading its code
(DEVELOPERS.md, "The check path"). This one module, with no classes, answers a check when it can be
certain of the full path's answer, word for word:

- the command line holds only a URL, conditions, ``--warn``, ``--timeout`` and ``--verbose``;
- the URL is plain ``http://`` to an IP literal (v4 or v6) or a host name;
- every condition is in the subset below, which it compiles itself (valid PromQL by construction);
- the response is a ``200`` with a Content-Length or read to the close, plain or one gzip member;
- every line of the metrics the conditions read is in the form exporters write
  (``name{a="x",b="y"} value``: no escapes, timestamps, empty values or duplicate series);
- every required condition holds (a failure needs the full path's explanation), and with
  ``--verbose`` every ``--warn`` condition's outcome is one it can word (it holds).

The subset: selectors with a metric name and ``=``, ``!=``, ``=~``, ``!~`` matchers, numbers,
``time()``, ``+ - * /``, comparisons (without ``bool``), ``and``/``or``/``unless``, parentheses;
Prometheus 2.42's semantics for each (``promql/_nodes.py``). Regexes are compiled by the
project's regex module (``healthgauge.promql._regex``), loaded only for a condition that has one.

Everything else falls through to the full path (``startup._fastload.run_check``), and never twice:
before any I/O, nothing was done; after it, the connection and every byte received so far are
handed over (``run`` returns them), so the full path reads the same response under the same
deadline. Connection failures and deadlines are reported here, in the full path's words
(``healthgauge.http.fetch``); ``tests/check/test_quick.py`` holds both paths to the same answers.
"""

import _socket
from time import monotonic, time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    Labels = tuple[tuple[str, str], ...]
    Vector = list[tuple[Labels, float]]
    # (labels with __name__, sorted; the labels as a dict, without it; value), per metric name
    Page = dict[str, list[tuple[Labels, dict[str, str], float]]]
    Plan = list[tuple[str, bool, tuple[object, ...]]]
    Handover = tuple[float, _socket.socket | None, bytes]
    Head = tuple[int, int | None, str, str]  # head size, Content-Length, Content-Encoding, Content-Type

# The full path's caps and constants, restated so this module imports nothing (tests/check/test_quick.py
# checks each against its source).
MAX_BODY = 16 * 1024 * 1024  # healthgauge.http._http11.MAX_BODY
MAX_HEAD = 64 * 1024  # healthgauge.http._http11.MAX_HEAD
MAX_LINE = 64 * 1024  # healthgauge.exposition DEFAULT_MAX_LINE_CHARS
MAX_SERIES = 200_000  # healthgauge.exposition DEFAULT_MAX_SERIES
MAX_TIMEOUT = 3600.0  # healthgauge._check._args.MAX_TIMEOUT
LOOKBACK_MS = 300_000  # healthgauge.promql LOOKBACK_MS
FAMILY_SUFFIXES = ("_total", "_created", "_bucket", "_count", "_sum", "_gcount", "_gsum", "_info")
ACCEPT = (  # healthgauge.exposition.ACCEPT: what Prometheus 2.42 asks for
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,"
    "text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
)
_RECV_SIZE = 64 * 1024
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_:0123456789")
_NAME_BYTES = bytes(sorted(map(ord, _NAME_CHARS)))
_LONGEST_SUFFIX = 8
# PromQL's keywords and aggregation names (case-insensitive): a word that is one is not a metric
# name here, and anything but and/or/unless is outside the subset.
_KEYWORDS = frozenset(
    [
        "and",
        "or",
        "unless",
        "bool",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "offset",
        "by",
        "without",
        "atan2",
        "start",
        "end",
        "inf",
        "nan",
        "sum",
        "avg",
        "count",
        "min",
        "max",
        "group",
        "stddev",
        "stdvar",
        "topk",
        "bottomk",
        "count_values",
        "quantile",
    ]
)
_PRECEDENCE = {"or": 1, "and": 2, "unless": 2, "==": 3, "!=": 3, "<": 3, ">": 3, "<=": 3, ">=": 3}
_PRECEDENCE.update({"+": 4, "-": 4, "*": 5, "/": 5})
_COMPARE: "dict[str, Callable[[float, float], bool]]" = {
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    ">": lambda a, b: a > b,
    "<": lambda a, b: a < b,
    ">=": lambda a, b: a >= b,
    "<=": lambda a, b: a <= b,
}
_REGEX_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.*+?|()[]:/ ")
_INF = float("inf")
_NAN = float("nan")


# Raised for "not for the quick path: the full path answers" (a built-in class: creating one costs).
Unsure = NotImplementedError


def run(args: "list[str]") -> "Handover | None":  # noqa: RET503 (posix._exit does not return)
    """``healthgauge check ARGS`` as the launcher runs it: answer and leave the process at once, or
    return what the full path needs: None (nothing was done) or (deadline, connection, received)."""
    import gc

    gc.disable()  # a check ends in milliseconds; the collector would only walk the loaded code
    options = plan_args(args)
    if options is None:
        return None
    url, exprs, warns, timeout, verbose = options
    target = parse_url(url)
    try:
        plan = compile_plan(exprs, warns)
    except Unsure:
        return None
    if target is None:
        return None
    code, text, handover = check(target, plan, timeout, verbose)
    if handover is not None:
        return handover
    import posix
    import sys

    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except OSError:
        pass
    posix._exit(code)


def plan_args(args: "list[str]") -> "tuple[str, list[str], list[str], float, bool] | None":
    """(url, conditions, --warn conditions, timeout, verbose) for a command line of only those, else None."""
    url = None
    exprs: list[str] = []
    warns: list[str] = []
    timeout = 1.0
    verbose = False
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if arg in ("--warn", "--timeout"):
            if i >= len(args):
                return None
            value = args[i]
            i += 1
            if arg == "--warn":
                warns.append(value)
            elif (seconds := _seconds(value)) is not None:
                timeout = seconds
            else:
                return None
        elif arg in ("--verbose", "-v"):
            verbose = True
        elif arg.startswith("-"):
            return None
        elif url is None:
            url = arg
        else:
            exprs.append(arg)
    if url is None or not exprs:
        return None
    return url, exprs, warns, timeout, verbose


def _seconds(text: str) -> float | None:
    """``1``, ``0.5``, ``2s``, ``500ms`` as the full path reads them, or None for anything else."""
    scale = 1.0
    if text.endswith("ms"):
        text, scale = text[:-2], 0.001
    elif text.endswith("s"):
        text = text[:-1]
    if not text or text.strip("0123456789.") or text.count(".") > 1 or text == ".":
        return None
    seconds = float(text) * scale
    return seconds if 0 < seconds <= MAX_TIMEOUT else None


def parse_url(url: str) -> "tuple[str, int, str, str, str] | None":
    """(host, port, authority, target, URL as shown) of a plain http URL, or None (the full path)."""
    if not url.startswith("http://") or not url.isascii() or not url.isprintable() or " " in url:
        return None
    rest = url[7:]
    end = len(rest)
    for stop in "/?#":
        at = rest.find(stop)
        if at != -1 and at < end:
            end = at
    hostport, target = rest[:end], rest[end:]
    if "#" in target or "%" in hostport or "@" in hostport:
        return None
    if hostport.startswith("["):
        host, bracket, port_text = hostport[1:].partition("]")
        if not bracket or not host or (port_text and port_text[0] != ":"):
            return None
        try:
            _socket.inet_pton(_socket.AF_INET6, host)
        except OSError:
            return None
        port_text = port_text[1:]
    else:
        host, _, port_text = hostport.partition(":")
        labels = host.removesuffix(".").split(".")
        if not host or len(host) > 253 or not all(0 < len(label) <= 63 for label in labels):
            return None
        if host.strip("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_"):
            return None
    port = 80
    if port_text:
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            return None
        port = int(port_text)
    host = host.lower()
    shown = f"[{host}]" if ":" in host else host
    authority = shown if port == 80 else f"{shown}:{port}"
    target = target if target.startswith("/") else "/" + target
    return host, port, authority, target, f"http://{authority}{target}"


# -- conditions ------------------------------------------------------------------------------------


def compile_plan(exprs: "list[str]", warns: "list[str]") -> "Plan":
    """Each condition compiled to a tree of tuples; raises Unsure when one is outside the subset."""
    plan = [(text, False, compile_condition(text)) for text in exprs]
    return plan + [(text, True, compile_condition(text)) for text in warns]


def compile_condition(text: str) -> "tuple[object, ...]":
    tokens = _tokens(text)
    node, _, pos = _expression(tokens, 0, 1)
    if pos != len(tokens):
        raise Unsure
    return node


def _tokens(text: str) -> "list[object]":
    """Words (lower-cased keywords), operators, ("num", value) and ("str", text); Unsure for anything else."""
    out: list[object] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c in " \t\n":
            i += 1
        elif c in _NAME_CHARS and not c.isdigit():
            j = i + 1
            while j < n and text[j] in _NAME_CHARS:
                j += 1
            word = text[i:j]
            out.append(word.lower() if word.lower() in _KEYWORDS else word)
            i = j
        elif c.isdigit():
            j = i + 1
            while j < n and text[j] in "0123456789.":
                j += 1
            number = text[i:j]
            if (j < n and text[j] in _NAME_CHARS) or number.count(".") > 1 or number.endswith("."):
                raise Unsure  # durations, exponents, hex: not here
            if len(number) > 1 and number[0] == "0" and number[1] != ".":
                raise Unsure  # a leading zero: PromQL reads 010 as octal
            out.append(("num", float(number)))
            i = j
        elif c == '"':
            j = text.find('"', i + 1)
            value = text[i + 1 : j]
            if j < 0 or "\\" in value or not value.isprintable():
                raise Unsure
            out.append(("str", value))
            i = j + 1
        elif text[i : i + 2] in ("==", "!=", "<=", ">=", "=~", "!~"):
            out.append(text[i : i + 2])
            i += 2
        elif c in "+-*/<>(){},=":
            out.append(c)
            i += 1
        else:
            raise Unsure
    return out


def _expression(tokens: "list[object]", pos: int, least: int) -> "tuple[tuple[object, ...], str, int]":
    """Precedence climbing over PromQL's binary operators (all left-associative here)."""
    node, kind, pos = _primary(tokens, pos)
    while pos < len(tokens):
        op = tokens[pos]
        rank = _PRECEDENCE.get(op) if isinstance(op, str) else None
        if rank is None or rank < least:
            break
        rhs, rkind, pos = _expression(tokens, pos + 1, rank + 1)
        node, kind = _binary(op, node, kind, rhs, rkind)  # type: ignore[arg-type]
    return node, kind, pos


def _binary(
    op: str, lhs: "tuple[object, ...]", lkind: str, rhs: "tuple[object, ...]", rkind: str
) -> "tuple[tuple[object, ...], str]":
    kinds = lkind + rkind
    if op in ("and", "or", "unless"):
        if kinds != "vv":
            raise Unsure  # PromQL refuses set operators on scalars
    elif op in _COMPARE and kinds == "ss":
        raise Unsure  # PromQL refuses a comparison of two scalars without bool
    return ("b", op, lhs, rhs, kinds), "s" if kinds == "ss" else "v"


def _primary(tokens: "list[object]", pos: int) -> "tuple[tuple[object, ...], str, int]":
    token = tokens[pos] if pos < len(tokens) else None
    if token == "(":
        node, kind, pos = _expression(tokens, pos + 1, 1)
        if pos >= len(tokens) or tokens[pos] != ")":
            raise Unsure
        return node, kind, pos + 1
    if isinstance(token, tuple) and token[0] == "num":
        return ("n", token[1]), "s", pos + 1
    if not isinstance(token, str) or token in _KEYWORDS or token[0] not in _NAME_CHARS:
        raise Unsure
    following = tokens[pos + 1] if pos + 1 < len(tokens) else None
    if following == "(":
        if token != "time" or pos + 2 >= len(tokens) or tokens[pos + 2] != ")":
            raise Unsure
        return ("t",), "s", pos + 3
    if token == "time":
        raise Unsure  # a function's name as a metric name: left to the real parser
    if following != "{":
        return ("s", token, ()), "v", pos + 1
    matchers, pos = _matchers(tokens, pos + 2)
    return ("s", token, matchers), "v", pos


def _matchers(tokens: "list[object]", pos: int) -> "tuple[tuple[object, ...], int]":
    """``a="x", b!~"y.*"}`` -> ((label, op, value, predicate), ...) and the position after ``}``."""
    matchers: list[tuple[str, str, str, object]] = []
    while True:
        token = tokens[pos] if pos < len(tokens) else None
        if token == "}":
            return tuple(matchers), pos + 1
        if matchers:
            if token != ",":
                raise Unsure
            pos += 1
            if pos < len(tokens) and tokens[pos] == "}":
                return tuple(matchers), pos + 1
        label, op, value = [*tokens[pos : pos + 3], None, None, None][:3]
        if not isinstance(label, str) or label in _KEYWORDS or not label.isidentifier() or label == "__name__":
            raise Unsure
        if op not in ("=", "!=", "=~", "!~") or not isinstance(value, tuple) or value[0] != "str":
            raise Unsure
        text = value[1]
        matchers.append((label, op, text, _regex(text) if op in ("=~", "!~") else None))
        pos += 3


def _regex(pattern: str) -> "Callable[[str], bool]":
    """The project's anchored matcher for ``pattern``, for the plain patterns probes use."""
    if not _REGEX_CHARS.issuperset(pattern) or "(?" in pattern or "[]" in pattern:
        raise Unsure
    previous = "|"
    for c in pattern:
        if c in "*+?" and (previous in "|(" or (previous in "*+?" and c != "?")):
            raise Unsure  # RE2 refuses what Python reads as possessive or empty repetition
        previous = c
    from healthgauge.promql._regex import compile_matcher

    try:
        return compile_matcher(pattern)
    except Exception:
        raise Unsure from None


def names_read(plan: "Plan") -> "set[str]":
    names: set[str] = set()
    for _, _, node in plan:
        _collect(node, names)
    return names


def _collect(node: "tuple[object, ...]", names: "set[str]") -> None:
    if node[0] == "s":
        names.add(node[1])  # type: ignore[arg-type]
    elif node[0] == "b":
        _collect(node[2], names)  # type: ignore[arg-type]
        _collect(node[3], names)  # type: ignore[arg-type]


# -- the fetch ------------------------------------------------------------------------------------


def check(
    target: "tuple[str, int, str, str, str]", plan: "Plan", timeout: float, verbose: bool
) -> "tuple[int, str, Handover | None]":
    """Fetch, read and judge: (exit code, output, None), or a handover for the full path."""
    host, port, authority, path, shown = target
    started = monotonic()
    deadline = started + timeout
    try:
        sock = _connect(host, port, authority, deadline)
        _send(sock, path, authority, deadline)
        raw_head, body, head = _receive(sock, deadline)
    except OSError as exc:  # the fetch failed: said here as the full path says it
        said = exc.args[0] if len(exc.args) == 1 and isinstance(exc.args[0], str) else _reason(exc)
        return 2, f"FAIL - cannot read {shown}: {said}\n", None
    if head is None:
        return 0, "", (deadline, sock, raw_head + body)
    scraped = time()
    fetched = monotonic()
    try:
        status, text = answer(plan, body, head, scraped, verbose, shown, (started, fetched, deadline))
    except Unsure:
        return 0, "", (deadline, sock, raw_head + body)
    except TimeoutError as exc:
        return 2, f"FAIL - {exc.args[0]} {shown}: deadline passed ({exc.args[1]})\n", None
    return status, text, None


def _connect(host: str, port: int, authority: str, deadline: float) -> _socket.socket:
    last = None
    for family, address in _resolve(host, port, deadline):
        sock = _socket.socket(family, _socket.SOCK_STREAM)
        try:
            _wait(sock, deadline, "connect")
            sock.connect(address)
        except TimeoutError:
            sock.close()
            where = f"[{address[0]}]:{address[1]}" if ":" in address[0] else f"{address[0]}:{address[1]}"
            raise OSError(f"deadline passed connecting to {where}") from None
        except OSError as exc:
            sock.close()
            if exc.args and isinstance(exc.args[0], str) and exc.args[0].startswith("deadline passed"):
                raise
            last = exc
            continue
        return sock
    assert last is not None
    raise OSError(f"{_reason(last)} connecting to {authority}")


def _resolve(host: str, port: int, deadline: float) -> "list[tuple[int, tuple[str, int]]]":
    """An IP literal as it is; a name resolved on a helper thread, so the deadline bounds it too."""
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
            box.append(_socket.getaddrinfo(host.encode("ascii"), port, 0, _socket.SOCK_STREAM))
        except Exception as exc:
            box.append(exc)
        finally:
            done.release()

    _thread.start_new_thread(lookup, ())
    if not done.acquire(timeout=max(deadline - monotonic(), 0.0)):
        raise OSError(f"deadline passed resolving {host!r}")
    result = box[0]
    if isinstance(result, Exception):
        raise OSError(f"cannot resolve host {host!r}: {_reason(result)}")
    return [(info[0], info[4]) for info in result]  # type: ignore[attr-defined]


def _wait(sock: _socket.socket, deadline: float, phase: str) -> None:
    left = deadline - monotonic()
    if left <= 0:
        raise OSError(f"deadline passed ({phase})")
    sock.settimeout(left)


def _reason(exc: BaseException) -> str:
    """An OS error as a short phrase, as ``healthgauge.http.fetch`` words it."""
    text = getattr(exc, "strerror", None) or getattr(exc, "reason", None) or str(exc) or type(exc).__name__
    return str(text)[:1].lower() + str(text)[1:]


def _send(sock: _socket.socket, path: str, authority: str, deadline: float) -> None:
    from healthgauge import __version__

    request = (
        f"GET {path} HTTP/1.1\r\nHost: {authority}\r\nUser-Agent: healthgauge/{__version__}\r\n"
        f"Accept: {ACCEPT}\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n"
    )
    _wait(sock, deadline, "send")
    try:
        sock.sendall(request.encode("latin-1"))
    except TimeoutError:
        raise OSError("deadline passed while sending the request") from None
    except OSError as exc:
        raise OSError(f"{_reason(exc)} sending the request") from None


def _receive(sock: _socket.socket, deadline: float) -> "tuple[bytes, bytearray, Head | None]":
    """The response: (its head, its body, (head size, Content-Length, coding, content type)); with
    a head this module does not read, or a body that ended early, the head is None and the first
    two are every byte received (the full path goes on from there).

    A body of known length is received straight into one buffer of its size: a 10k-series page
    (1.2 MB) is neither copied nor reallocated on its way in (fresh memory costs ~1.5 us a page).
    """
    data = bytearray()
    buffer = bytearray(_RECV_SIZE)
    while True:
        size = _recv(sock, buffer, deadline, "read headers")
        if not size:
            return bytes(data), bytearray(), None
        data += memoryview(buffer)[:size]
        end = data.find(b"\r\n\r\n")
        if end >= 0:
            break
        if len(data) > MAX_HEAD or b"\n\n" in data:
            return bytes(data), bytearray(), None
    raw_head = bytes(data[: end + 4])
    head = _head(raw_head[:end], end + 4) if end + 4 <= MAX_HEAD else None
    if head is None or (head[1] is not None and len(data) - end - 4 > head[1]):
        return bytes(data), bytearray(), None
    if head[1] is None:  # read to the close
        body = data[end + 4 :]
        while size := _recv(sock, buffer, deadline, "read body"):
            body += memoryview(buffer)[:size]
            if len(body) > MAX_BODY:
                return raw_head, body, None
        return raw_head, body, head
    body = bytearray(head[1])
    filled = len(data) - end - 4
    body[:filled] = memoryview(data)[end + 4 :]
    view = memoryview(body)
    while filled < head[1]:
        size = _recv(sock, view[filled:], deadline, "read body")
        if not size:
            return raw_head, body[:filled], None  # ended early: the full path says how
        filled += size
    return raw_head, body, head


def _recv(sock: _socket.socket, into: "bytearray | memoryview", deadline: float, phase: str) -> int:
    _wait(sock, deadline, phase)
    try:
        return sock.recv_into(into)
    except TimeoutError:
        raise OSError(f"deadline passed ({phase})") from None
    except OSError as exc:
        raise OSError(f"{_reason(exc)} reading the response ({phase})") from None


def _head(raw: bytes, start: int) -> "Head | None":
    """(body start, Content-Length or None, Content-Encoding, Content-Type) of a plain 200, else None."""
    lines = raw.split(b"\r\n")
    if lines[0][:13] not in (b"HTTP/1.1 200 ", b"HTTP/1.0 200 ") and lines[0] not in (b"HTTP/1.1 200", b"HTTP/1.0 200"):
        return None
    if len(lines) > 101:
        return None
    length = None
    coding = content_type = ""
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
            if length is not None or not text.isdigit() or len(text) > 12:
                return None
            length = int(text)
        elif key == b"transfer-encoding" or (key == b"content-encoding" and coding):
            return None
        elif key == b"content-encoding":
            coding = text
        elif key == b"content-type":
            content_type = text if not content_type else content_type + ", " + text
    if coding.lower() not in ("", "identity", "gzip") or (length is not None and length > MAX_BODY):
        return None
    return start, length, coding, content_type


# -- the page -------------------------------------------------------------------------------------


def answer(
    plan: "Plan",
    raw: "bytes | bytearray",
    head: "Head",
    scraped: float,
    verbose: bool,
    shown: str,
    times: "tuple[float, float, float]",
) -> "tuple[int, str]":
    """The exit code and output for a body as received; Unsure when the full path must say it, and
    TimeoutError (what could not be done, and while doing what) when the deadline passes."""
    started, fetched, deadline = times
    coding, content_type = head[2], head[3]
    body = _gunzip(raw) if coding.lower() == "gzip" else raw
    names = names_read(plan)
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
    import zlib

    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        body = inflater.decompress(raw, MAX_BODY + 1)
    except zlib.error:
        raise Unsure from None
    if not inflater.eof or inflater.unused_data.strip(b"\0") or len(body) > MAX_BODY or not raw.strip(b"\0"):
        raise Unsure
    return body


def read_page(
    body: "bytes | bytearray", content_type: str, names: "set[str]", deadline: float = _INF
) -> "tuple[Page, int]":
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


def _ends_with_eof(data: "bytes | bytearray") -> bool:
    tail = bytes(data[-7:]).removesuffix(b"\n")
    return tail == b"# EOF" or tail.endswith(b"\n# EOF")


def select(data: "bytes | bytearray", names: "set[str]") -> "list[int]":
    """Offsets of the lines that start with a selected series name (``healthgauge.exposition``'s
    ``names=`` rule: the name, or the name and a family suffix, then a character that cannot go on
    a name), in page order."""
    starts = set()
    for name in sorted(names):
        base = name.encode()
        wanted = {base, *(base + s.encode() for s in FAMILY_SUFFIXES)}
        size = len(base)
        pattern = b"\n" + base
        hit = 0 if data.startswith(base) else -1
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


# -- evaluation -----------------------------------------------------------------------------------


def judge(
    plan: "Plan", page: "Page", scraped: float, now: float
) -> "list[tuple[str, bool, bool, str, list[tuple[dict[str, str], float]]]]":
    """(text, warn, holds, summary, values) per condition, as the full evaluator words a condition
    that holds; Unsure for an outcome it would word otherwise (one that does not hold), or an error."""
    t = round(now * 1000)
    if not 0 <= t - round(scraped * 1000) <= LOOKBACK_MS:
        raise Unsure
    results = []
    for text, warn, node in plan:
        values: list[tuple[dict[str, str], float]]
        value = evaluate(node, page, t)
        if isinstance(value, float):
            holds = value == value and value != 0
            summary, values = f"got {format_human(value)}", [({}, value)]
        else:
            holds = bool(value)
            summary = got(value) if value else ""
            observed = value if holds else _seen(node, page, t)
            values = [(dict(labels), v) for labels, v in observed]
        if not holds and not warn:
            raise Unsure
        results.append((text, warn, holds, summary, values))
    return results


def evaluate(node: "tuple[object, ...]", page: "Page", t: int) -> "Vector | float":
    """A compiled condition's value at ``t`` (ms): an instant vector or a scalar (Prometheus 2.42)."""
    tag = node[0]
    if tag == "n":
        return node[1]  # type: ignore[return-value]
    if tag == "t":
        return t / 1000
    if tag == "s":
        return _select(node, page)
    _, op, lhs, rhs, kinds = node
    a = evaluate(lhs, page, t)  # type: ignore[arg-type]
    b = evaluate(rhs, page, t)  # type: ignore[arg-type]
    if kinds == "ss":
        return _arithmetic(op, a, b)  # type: ignore[arg-type]
    if kinds != "vv":
        return _vector_scalar(op, a, b)  # type: ignore[arg-type]
    if op in ("and", "or", "unless"):
        return _set(op, a, b)  # type: ignore[arg-type]
    return _vector_vector(op, a, b)  # type: ignore[arg-type]


def _seen(node: "tuple[object, ...]", page: "Page", t: int) -> "Vector":
    """What the full path reports as observed for a vector condition that does not hold (its
    performance data): the non-literal side of a comparison, the side of a set operation that made
    it fail (``promql._expr``'s explanation), nothing for an empty selection or arithmetic."""
    if node[0] != "b":
        return []
    _, op, lhs, rhs, kinds = node
    if op in _COMPARE:
        side = rhs if kinds == "sv" else lhs
        return evaluate(side, page, t)  # type: ignore[arg-type,return-value]
    if op not in ("and", "or", "unless"):
        return []
    left = evaluate(lhs, page, t)  # type: ignore[arg-type]
    if op == "or":
        return _seen(lhs, page, t) + _seen(rhs, page, t)  # type: ignore[arg-type]
    if not left:
        return _seen(lhs, page, t)  # type: ignore[arg-type]
    if op == "and" and not evaluate(rhs, page, t):  # type: ignore[arg-type]
        return _seen(rhs, page, t)  # type: ignore[arg-type]
    return left  # type: ignore[return-value]


def _select(node: "tuple[object, ...]", page: "Page") -> "Vector":
    out = []
    for labels, ldict, value in page[node[1]]:  # type: ignore[index]
        for label, op, text, predicate in node[2]:  # type: ignore[attr-defined]
            have = ldict.get(label, "")
            if op == "=":
                ok = have == text
            elif op == "!=":
                ok = have != text
            else:
                ok = predicate(have) == (op == "=~")
            if not ok:
                break
        else:
            out.append((labels, value))
    return out


def _arithmetic(op: str, a: float, b: float) -> float:
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    try:  # Go's division: ±Inf for a non-zero dividend over ±0, NaN for 0/0
        return a / b
    except ZeroDivisionError:
        if a != a or a == 0:
            return _NAN
        return -_INF if (a < 0) != (b.hex()[0] == "-") else _INF


def _drop_name(labels: "Labels") -> "Labels":
    return tuple(pair for pair in labels if pair[0] != "__name__")


def _unique(vector: "Vector") -> "Vector":
    if len(vector) > 1 and len({labels for labels, _ in vector}) != len(vector):
        raise Unsure  # Prometheus's "vector cannot contain metrics with the same labelset"
    return vector


def _vector_scalar(op: str, a: "Vector | float", b: "Vector | float") -> "Vector":
    swap = isinstance(a, float)
    vector, scalar = (b, a) if swap else (a, b)
    assert isinstance(vector, list)
    assert isinstance(scalar, float)
    if op in _COMPARE:  # a filter keeps the element's own value and name
        cmp = _COMPARE[op]
        if swap:
            return [(lb, v) for lb, v in vector if cmp(scalar, v)]
        return [(lb, v) for lb, v in vector if cmp(v, scalar)]
    if swap:
        return _unique([(_drop_name(lb), _arithmetic(op, scalar, v)) for lb, v in vector])
    return _unique([(_drop_name(lb), _arithmetic(op, v, scalar)) for lb, v in vector])


def _set(op: str, lhs: "Vector", rhs: "Vector") -> "Vector":
    if op == "and":
        if not lhs or not rhs:
            return []
        right = {_drop_name(lb) for lb, _ in rhs}
        return [s for s in lhs if _drop_name(s[0]) in right]
    if op == "or":
        if not lhs or not rhs:
            return lhs or rhs
        left = {_drop_name(lb) for lb, _ in lhs}
        return lhs + [s for s in rhs if _drop_name(s[0]) not in left]
    if not lhs or not rhs:
        return lhs
    right = {_drop_name(lb) for lb, _ in rhs}
    return [s for s in lhs if _drop_name(s[0]) not in right]


def _vector_vector(op: str, lhs: "Vector", rhs: "Vector") -> "Vector":
    """One-to-one matching on every label but the name (no ``on``/``ignoring`` in the subset)."""
    if not lhs or not rhs:
        return []
    one: dict[Labels, float] = {}
    for labels, v in rhs:
        key = _drop_name(labels)
        if key in one:
            raise Unsure  # many-to-many: the full path's error
        one[key] = v
    matched = set()
    out = []
    cmp = _COMPARE.get(op)
    for labels, v in lhs:
        key = _drop_name(labels)
        if key not in one:
            continue
        if cmp is not None and not cmp(v, one[key]):
            continue  # filtered out before it counts as a match, as in Prometheus
        if key in matched:
            raise Unsure  # "multiple matches for labels": the full path's error
        matched.add(key)
        out.append((labels, v) if cmp is not None else (key, _arithmetic(op, v, one[key])))
    return _unique(out)


# -- words ----------------------------------------------------------------------------------------


def format_human(v: float) -> str:
    """``healthgauge.promql``'s value for people: integers whole, others to 6 significant digits."""
    if v != v:
        return "NaN"
    if v in (_INF, -_INF):
        return "+Inf" if v > 0 else "-Inf"
    if v == int(v) and abs(v) < 1e15:
        return str(int(v))
    return f"{v:.6g}"


def got(vector: "Vector") -> str:
    """``healthgauge.promql``'s summary of a result: ``got 1``, or the series named by the labels
    that tell them apart (at most 5, within about 240 characters)."""
    if len(vector) == 1:
        return f"got {format_human(vector[0][1])}"
    shown = vector[:5]
    dicts = [dict(labels) for labels, _ in shown]
    every = {k for labels, _ in shown for k, _ in labels}
    varying = {k for k in every if len({d.get(k) for d in dicts}) > 1} or every
    parts: list[str] = []
    length = 4
    for labels, value in shown:
        inner = ", ".join(f'{k}="{v}"' for k, v in labels if k in varying)
        part = f"{format_human(value)} {{{inner}}}"
        if parts and length + len(part) > 240:
            break
        parts.append(part)
        length += len(part) + 2
    more = len(vector) - len(parts)
    return "got " + ", ".join(parts) + (f", … ({more} more)" if more else "")


def perfdata(values: "list[list[tuple[dict[str, str], float]]]") -> str:
    """Nagios performance data for each condition's observed values (Nagios plugin guidelines,
    "Performance data": ``'label'=value[UOM];[warn];[crit];[min];[max]``), after `` | ``.

    A condition's values are labelled ``c1``, ``c2``... in the order of the conditions, with the
    series' labels when there are any (``'c1{job:"a"}'=3``: ``=`` may not appear in a label);
    NaN and ±Inf are ``U``, Nagios's "undetermined". No thresholds, unit or bounds: a PromQL
    condition is not one range. Empty when no condition observed a value.
    """
    items = []
    for number, pairs in enumerate(values, 1):
        for labels, value in pairs:
            inner = ",".join(f'{k}:"{v}"' for k, v in sorted(labels.items()) if k != "__name__")
            label = f"c{number}{{{inner}}}" if inner else f"c{number}"
            if not label.replace("_", "").replace(":", "").isalnum():
                label = "'" + label.replace("'", "''").replace("=", ":").replace("|", "/").replace("\n", " ") + "'"
            items.append(f"{label}={_perf_number(value)}")
    return " | " + " ".join(items) if items else ""


def _perf_number(v: float) -> str:
    """Digits, a point and a sign only (no exponent: Nagios's parsers read ``[-0-9.]``)."""
    if v != v or v in (_INF, -_INF):
        return "U"
    if v == int(v):
        return str(int(v))
    text = repr(v)
    if "e" not in text:
        return text
    return f"{v:.20f}".rstrip("0").rstrip(".") if abs(v) < 1 else f"{v:.1f}"


def render(
    results: "list[tuple[str, bool, bool, str, list[tuple[dict[str, str], float]]]]", verbose: bool, details: str
) -> "tuple[int, str]":
    """The exit code and the text the full path prints for these outcomes (OK or WARN)."""
    warned = [(text, summary) for text, warn, holds, summary, _ in results if warn and holds]
    if verbose and any(warn and not holds for _, warn, holds, _, _ in results):
        raise Unsure  # the summary of a --warn condition that does not hold: the full path's words
    required = sum(1 for _, warn, _, _, _ in results if not warn)
    if warned:
        code, line = 1, "WARN - " + "; ".join(f"{text}: {summary}" for text, summary in warned)
    else:
        code, line = 0, "OK - " + ("1 condition holds" if required == 1 else f"{required} conditions hold")
    lines = [line + perfdata([values for *_, values in results])]
    if verbose:
        lines.append(details)
        for text, warn, holds, summary, _ in results:
            mark = ("WARN" if holds else "OK") if warn else "OK"
            lines.append(f"[{mark}] {'--warn ' if warn else ''}{text}: {summary}")
    return code, "\n".join(lines) + "\n"
