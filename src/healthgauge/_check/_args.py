"""The command line of ``healthgauge check``, parsed by hand: no ``argparse`` (+13 ms) on the check path.

Pure: turns argv into ``Options`` or raises ``UsageError`` naming the offending argument; nothing here
reads files or the network. The drop-in flags of the tool users have today (``--url``,
``--check-up``, ``--check-fresh``, ``--fresh-for``) are kept as given; ``_cmd_check`` turns them
into conditions.
"""

# No `from __future__ import annotations`: with the drop-in flags the quick path loads this module,
# and `__future__` alone costs a check 0.47 M instructions (1.7 % of Python's start).

USAGE = """\
usage: healthgauge check URL EXPR [EXPR ...] [--warn EXPR]... [options]

Fetch URL's Prometheus metrics once and judge PromQL conditions over them.
Each EXPR must hold (return at least one sample, or a non-zero scalar); each --warn EXPR
that holds makes the result a warning. Exit codes (Nagios, Consul, Kubernetes exec probes):
  0 OK       every EXPR holds and no --warn EXPR holds
  1 WARN     every EXPR holds and a --warn EXPR holds
  2 FAIL     an EXPR does not hold, or the page could not be read (refused, DNS,
             deadline, HTTP status >= 400, too many redirects, too large, invalid exposition)
  3 UNKNOWN  the command line is wrong (unknown flag, invalid PromQL, bad URL); no I/O is done

options:
  --warn EXPR                 a condition that warns when it holds (repeatable)
  --timeout SECONDS           one deadline over connect, send and the whole read (default 1;
                              "500ms" and "2s" work too)
  --header 'Name: value'      send this request header (repeatable)
  --bearer-token-file FILE    send "Authorization: Bearer <the file's content>"
  --insecure                  do not verify the https certificate (as the kubelet does)
  --ca-file FILE              verify https against this CA bundle instead of the system's
  --max-bytes N               cap on the page, before and after gzip (default 16777216)
  --json                      print one JSON object instead of the line for people
  -v, --verbose               print every condition, and what was fetched, after the first line
  -h, --help                  print this help
  --                          every later argument is an EXPR (for one that starts with "-")

drop-in flags of the probe this replaces (a NAME list may be comma-separated or repeated):
  --url URL                   the page (instead of the URL argument)
  --check-up NAME...          NAME >= 1 on every series of NAME
  --check-fresh NAME...       time() - NAME <= --fresh-for on every series of NAME: a value
                              over 1e11 is read as milliseconds, and one more than 60 s in
                              the future fails too
  --fresh-for SECONDS         the freshness bound (required with --check-fresh)

output: "OK|WARN|FAIL|UNKNOWN - <reason>", naming each failing condition and the values seen,
e.g. FAIL - time() - app_last_iteration_ts < 60: got 312.4
"""

# Kubernetes' default probe timeoutSeconds.
DEFAULT_TIMEOUT = 1.0
# A probe that waits longer than this is mis-configured (Kubernetes' own probes rarely exceed 60 s).
MAX_TIMEOUT = 3600.0
_METRIC_START = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_:")
_METRIC_CHARS = _METRIC_START | frozenset("0123456789")


class UsageError(Exception):
    """The command line is wrong: exit 3 before any I/O; the message names the argument."""


class Options:
    """``healthgauge check``'s flags, validated for form (not yet compiled, fetched or read)."""

    __slots__ = (
        "bearer_token_file",
        "ca_file",
        "check_fresh",
        "check_up",
        "exprs",
        "fresh_for",
        "fresh_for_text",
        "headers",
        "help",
        "insecure",
        "json",
        "max_bytes",
        "timeout",
        "url",
        "verbose",
        "warns",
    )

    def __init__(self) -> None:
        self.url: str | None = None
        self.exprs: list[str] = []
        self.warns: list[str] = []
        self.timeout = DEFAULT_TIMEOUT
        self.headers: list[tuple[str, str]] = []
        self.bearer_token_file: str | None = None
        self.insecure = False
        self.ca_file: str | None = None
        self.max_bytes: int | None = None
        self.json = False
        self.verbose = False
        self.help = False
        self.check_up: list[str] = []
        self.check_fresh: list[str] = []
        self.fresh_for: float | None = None
        self.fresh_for_text = ""


_SWITCHES = {"--json": "json", "--verbose": "verbose", "-v": "verbose", "--insecure": "insecure"}
_VALUED = frozenset(
    ("--warn", "--timeout", "--header", "--bearer-token-file", "--ca-file", "--max-bytes", "--url", "--fresh-for")
)
_NAME_LISTS = {"--check-up": "check_up", "--check-fresh": "check_fresh"}


def parse_args(args: list[str]) -> Options:
    """Options from ``args`` (without ``check``); raises UsageError naming what is wrong."""
    options = Options()
    positional: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        flag, eq, inline = arg.partition("=") if arg.startswith("--") else (arg, "", "")
        if arg == "--":
            positional += args[i:]
            break
        if arg in ("-h", "--help"):  # help wins over anything after it, as with argparse
            options.help = True
            return options
        if flag in _SWITCHES and not eq:
            setattr(options, _SWITCHES[flag], True)
        elif flag in _VALUED:
            if not eq:
                if i >= len(args):
                    raise UsageError(f"{flag} needs a value")
                inline = args[i]
                i += 1
            _set_value(options, flag, inline)
        elif flag in _NAME_LISTS:
            names = [inline] if eq else []
            while not eq and i < len(args) and _is_name_list(args[i]):  # NAME... up to the next non-name
                names.append(args[i])
                i += 1
            if not names:
                raise UsageError(f"{flag} needs a metric name")
            getattr(options, _NAME_LISTS[flag]).extend(_names(flag, names))
        elif arg.startswith("-") and len(arg) > 1 and not _looks_numeric(arg):
            raise UsageError(f"unknown flag {arg!r} (healthgauge check --help lists them)")
        else:
            positional.append(arg)
    return _finish(options, positional)


def _set_value(options: Options, flag: str, value: str) -> None:
    if flag == "--warn":
        options.warns.append(value)
    elif flag == "--timeout":
        options.timeout = parse_seconds(flag, value, upper=MAX_TIMEOUT)
    elif flag == "--header":
        options.headers.append(parse_header(value))
    elif flag == "--bearer-token-file":
        options.bearer_token_file = value
    elif flag == "--ca-file":
        options.ca_file = value
    elif flag == "--max-bytes":
        if not (value.isascii() and value.isdigit()) or int(value) < 1:
            raise UsageError(f"--max-bytes {value!r} is not a positive whole number of bytes")
        options.max_bytes = int(value)
    elif flag == "--url":
        if options.url is not None:
            raise UsageError("--url given twice")
        options.url = value
    else:  # --fresh-for
        options.fresh_for = parse_seconds(flag, value)
        options.fresh_for_text = _shortest(options.fresh_for)


def _finish(options: Options, positional: list[str]) -> Options:
    if options.url is None:
        if not positional:
            raise UsageError("no URL given (healthgauge check URL EXPR [EXPR ...])")
        options.url = positional.pop(0)
    options.exprs = positional
    if options.check_fresh and options.fresh_for is None:
        raise UsageError("--check-fresh needs --fresh-for SECONDS, the freshness bound")
    if options.fresh_for is not None and not options.check_fresh:
        raise UsageError("--fresh-for given without --check-fresh")
    if not (options.exprs or options.check_up or options.check_fresh):
        raise UsageError("no condition given: add an EXPR (e.g. 'app_up == 1'), --check-up or --check-fresh")
    return options


def parse_seconds(flag: str, text: str, *, upper: float = float("inf")) -> float:
    """Seconds from ``1``, ``0.5``, ``2s`` or ``500ms``: positive, finite, at most ``upper``."""
    number, scale = text.strip(), 1.0
    if number.endswith("ms"):
        number, scale = number[:-2], 0.001
    elif number.endswith("s"):
        number = number[:-1]
    try:
        seconds = float(number) * scale if number and "_" not in number else -1.0
    except ValueError:
        seconds = -1.0
    if not 0 < seconds <= upper:
        bound = "" if upper == float("inf") else f" up to {_shortest(upper)}"
        raise UsageError(f"{flag} {text!r} is not a positive number of seconds{bound}")
    return seconds


def parse_header(text: str) -> tuple[str, str]:
    """``'Name: value'`` -> (name, value); fetch checks the name and value for smuggling."""
    name, colon, value = text.partition(":")
    if not colon or not name.strip():
        raise UsageError(f"--header {text!r} is not 'Name: value'")
    return name.strip(), value.strip()


def is_metric_name(text: str) -> bool:
    """``[a-zA-Z_:][a-zA-Z0-9_:]*`` (Prometheus's data model)."""
    return bool(text) and text[0] in _METRIC_START and _METRIC_CHARS.issuperset(text)


def _is_name_list(text: str) -> bool:
    return all(is_metric_name(part) for part in text.split(","))


def _names(flag: str, given: list[str]) -> list[str]:
    names = [part for text in given for part in text.split(",")]
    for name in names:
        if not is_metric_name(name):
            raise UsageError(f"{flag} {name!r} is not a metric name ([a-zA-Z_:][a-zA-Z0-9_:]*)")
    return names


def _looks_numeric(arg: str) -> bool:
    """``-1`` is an expression (a negative number), not a flag."""
    return arg[1:2].isdigit() or arg[1:2] == "."


def _shortest(seconds: float) -> str:
    return str(int(seconds)) if seconds == int(seconds) else repr(seconds)
