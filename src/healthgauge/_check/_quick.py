"""The quick path of ``healthgauge check``: the common conditions answered without loading the
general machinery (the HTTP client and its error tree, the exposition parser, the evaluator).

A probe runs hundreds of times a second, and most of what the full path costs is loading its code
(DEVELOPERS.md, "The check path"). Three small modules with no classes answer a check when they can
be certain of the full path's answer, word for word: this one reads the command line, compiles
the conditions (all a check the full path must answer loads) and sends the request; the two others
load while the endpoint answers: ``_quick_fetch`` receives and reads the page, ``_quick_eval``
evaluates and words the answer. They answer when:

- the command line holds only a URL, conditions, ``--warn``, ``--timeout``, ``--verbose`` and the
  drop-in flags (``--check-up``, ``--check-fresh``: their conditions built as the full path's);
- the URL is plain ``http://`` to an IP literal (v4 or v6) or a host name;
- every condition is in the subset below, which it compiles itself (valid PromQL by construction);
- the response is a ``200`` (Content-Length, plain chunks or read to the close; one gzip member);
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

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from ._quick_fetch import Handover, Plan
    from ._quick_net import Ask

MAX_TIMEOUT = 3600.0  # healthgauge._check._args.MAX_TIMEOUT (tests/check/test_quick.py checks it)
VERSION = "0.1.0"  # healthgauge.__version__, for the User-Agent (importing the package costs ~0.2 ms)
ACCEPT = (  # healthgauge.exposition.ACCEPT: what Prometheus 2.42 asks for
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,"
    "text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
)
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_:0123456789")
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
_COMPARISONS = frozenset(("==", "!=", ">", "<", ">=", "<="))
_REGEX_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.*+?|()[]:/ ")

# Raised for "not for the quick path: the full path answers" (a built-in class: creating one costs).
Unsure = NotImplementedError


def main(args: "list[str]") -> None:
    """``healthgauge check ARGS`` as the launcher runs it: the quick path, else the full path with
    what the quick path leaves; either prints and leaves the process at once."""
    handover = run(args)
    from .startup._fastload import run_check

    run_check(args, handover)


def run(args: "list[str]") -> "Handover | None":
    """``healthgauge check ARGS`` as the launcher runs it: answer and leave the process at once, or
    return what the full path needs: None (nothing was done) or (deadline, connection, received),
    with the full path's loader (``startup._fastload``, which the launcher imports next) loaded."""
    import gc

    gc.disable()  # a check ends in milliseconds; the collector would only walk the loaded code
    handover = _answer(args)
    from . import preload

    preload("startup", "startup._fastload")
    return handover


def _answer(args: "list[str]") -> "Handover | None":
    plan = derive(args)
    if plan is None:
        return None
    from . import preload

    preload("_quick_net")
    from ._quick_net import ask, say

    code, text, handover = ask(plan)
    preload("_plan")  # the next run of this command line starts from this plan (_check.read_plan)
    from ._plan import store

    if handover is not None:
        store(args, plan)
        return handover
    say(code, text, lambda: store(args, plan))
    raise AssertionError("unreachable")  # pragma: no cover


def derive(args: "list[str]") -> "Ask | None":
    """What the quick path needs to answer this command line (``_quick_net.ask``'s plan), or None
    when it is not the quick path's: a plan for the next run, once made."""
    options = plan_args(args)
    if options is None:
        return None
    url, exprs, warns, timeout, verbose, drop_ins = options
    target = parse_url(url)
    try:
        plan = compile_plan(exprs, warns, drop_ins)
    except Unsure:
        return None
    if target is None:
        return None
    host, port, authority, path, shown = target
    return host, port, authority, shown, request(path, authority), timeout, verbose, plan, names_read(plan)


def request(path: str, authority: str) -> bytes:
    """The GET the quick path sends (the full path's headers, in its order)."""
    return (
        f"GET {path} HTTP/1.1\r\nHost: {authority}\r\nUser-Agent: healthgauge/{VERSION}\r\n"
        f"Accept: {ACCEPT}\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n"
    ).encode("latin-1")


def plan_args(
    args: "list[str]",
) -> "tuple[str, list[str], list[str], float, bool, list[tuple[str, tuple[object, ...]]]] | None":
    """(url, conditions, --warn conditions, timeout, verbose, drop-in conditions) for a command line
    of only those, else None."""
    if any(arg.partition("=")[0] in _DROP_IN for arg in args):
        return _drop_in_args(args)
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
    return url, exprs, warns, timeout, verbose, []


# The flags of the probe ``check`` replaces (README, "Drop-in for the probe you have").
_DROP_IN = frozenset(("--url", "--check-up", "--check-fresh", "--fresh-for"))
# As ``_command.conditions`` writes them: a value over this is milliseconds; a minute ahead fails.
_MS_THRESHOLD = 1e11
_FUTURE_BOUND = 60.0


def _drop_in_args(
    args: "list[str]",
) -> "tuple[str, list[str], list[str], float, bool, list[tuple[str, tuple[object, ...]]]] | None":
    """A command line with the drop-in flags, read by the full path's own parser (loaded only for
    them), and their conditions as the full path builds them (``_command.conditions``)."""
    from ._args import UsageError, parse_args

    try:
        options = parse_args(args)
    except UsageError:
        return None
    if options.help or options.json or options.headers or options.bearer_token_file or options.insecure:
        return None
    if options.ca_file is not None or options.max_bytes is not None or options.url is None:
        return None
    drop_ins = [(f"{name} >= 1", _check_up(name)) for name in options.check_up]
    for name in options.check_fresh:
        assert options.fresh_for is not None
        text = f"time() - {name} <= {options.fresh_for_text}"
        drop_ins.append((text, _check_fresh(name, options.fresh_for)))
    return options.url, options.exprs, options.warns, options.timeout, options.verbose, drop_ins


def _check_up(name: str) -> "tuple[object, ...]":
    """``name >= 1`` on every series: no series of ``name unless (name >= 1)``, then ``name``."""
    series = ("s", name, ())
    violations = ("b", "unless", series, ("b", ">=", series, ("n", 1.0), "vs"), "vv")
    return ("d", violations, series)


def _check_fresh(name: str, bound: float) -> "tuple[object, ...]":
    """``time() - name <= bound`` on every series (milliseconds read as such, a minute ahead
    failing): no series of the full path's violations expression, then ``name``."""
    series = ("s", name, ())
    now = ("t",)
    seconds = ("b", "-", now, ("b", "<=", series, ("n", _MS_THRESHOLD), "vs"), "sv")
    ms = ("b", "/", ("b", ">", series, ("n", _MS_THRESHOLD), "vs"), ("n", 1000.0), "vs")
    age = ("b", "or", seconds, ("b", "-", now, ms, "sv"), "vv")
    stale = ("b", ">", age, ("n", bound), "vs")
    ahead = ("b", "<", age, ("n", -_FUTURE_BOUND), "vs")
    unknown = ("b", "unless", series, age, "vv")
    return ("d", ("b", "or", ("b", "or", stale, ahead, "vv"), unknown, "vv"), series)


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


def compile_plan(
    exprs: "list[str]",
    warns: "list[str]",
    drop_ins: "list[tuple[str, tuple[object, ...]]]" = (),  # type: ignore[assignment]
) -> "Plan":
    """Each condition compiled to a tree of tuples, in the full path's order (conditions, drop-in
    conditions, --warn conditions); raises Unsure when one is outside the subset."""
    plan = [(text, False, compile_condition(text)) for text in exprs]
    plan += [(text, False, node) for text, node in drop_ins or ()]
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
        elif c in _NAME_CHARS and c not in "0123456789":
            j = i + 1
            while j < n and text[j] in _NAME_CHARS:
                j += 1
            word = text[i:j]
            out.append(word.lower() if word.lower() in _KEYWORDS else word)
            i = j
        elif c in "0123456789":  # ASCII only, as PromQL (str.isdigit takes other scripts' digits too)
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
    elif op in _COMPARISONS and kinds == "ss":
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
    elif node[0] == "d":
        _collect(node[1], names)  # type: ignore[arg-type]
        _collect(node[2], names)  # type: ignore[arg-type]
