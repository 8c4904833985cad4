"""The complete grammar, one line at a time: the reference the fast path must agree with.

Every line the fast path does not recognise at a glance comes here, so this module decides what
is valid and says why not. It follows Prometheus 2.42's own lexers (``model/textparse/promlex.l``
and ``openmetricslex.l``) and parsers rule by rule, because where the format documents and
Prometheus disagree, a probe must agree with the Prometheus that scrapes the same page:

Prometheus text 0.0.4 (``promlex.l``)
    Spaces and tabs may separate every token, even inside ``{}``; the comma between labels is
    optional and may trail; a label value may contain a raw newline (it continues on the next
    line); a value may follow the name or ``}`` without a space (``a-1``); the timestamp is integer
    milliseconds, digits only. ``#`` lines are comments unless they read ``# HELP name text`` or
    ``# TYPE name type`` (counter, gauge, histogram, summary, untyped). A name after leading
    whitespace is invalid. A NUL byte at the start of a line makes Prometheus stop reading the
    page without an error; we refuse it instead, since silent truncation is what we exist to catch.

OpenMetrics 1.0 (``openmetricslex.l``)
    Exactly one space between name-and-labels, value, timestamp and exemplar; no spaces or
    trailing comma inside ``{}``; no blank lines; the only comments are ``# HELP``, ``# TYPE``
    (also gaugehistogram, info, stateset, unknown), ``# UNIT`` and the final ``# EOF``; a timestamp
    is float seconds; an exemplar (`` # {labels} value [timestamp]``) only on ``_total`` and
    ``_bucket`` series.

Both
    Label values unescape ``\\\\``, ``\\"`` and ``\\n``; any other escape stays as written
    (``\\q`` is backslash-q), as Prometheus keeps it. Label values and HELP text must be UTF-8.
    After the line: a label with an empty value removes every label of that name (Prometheus's
    label builder), then a repeated label name is an error.
"""

from __future__ import annotations

from healthgauge.exposition._names import (
    LABEL_CHARS,
    LABEL_START,
    NAME_CHARS,
    NAME_START,
    OPENMETRICS_TYPES,
    TEXT_TYPES,
    is_utf8,
)
from healthgauge.exposition._numbers import (
    float_problem,
    go_float,
    openmetrics_timestamp,
    openmetrics_timestamp_problem,
    text_timestamp,
    text_timestamp_problem,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    # (name, [(label, value, offset)], value, timestamp seconds or None)
    Scanned = tuple[str, list[tuple[str, str, int]], float, float | None]

EXEMPLAR_SUFFIXES = ("_total", "_bucket")
_DIGITS = "0123456789"

_UNESCAPE = {"\\": "\\", '"': '"', "n": "\n"}


class Bad(Exception):
    """A line (or lines, for a text label value with a raw newline) that is invalid at ``offset``."""

    def __init__(self, text: str, offset: int, reason: str) -> None:
        super().__init__(reason)
        self.text = text
        self.offset = offset
        self.reason = reason


def finish(text: str, name: str, pairs: list[tuple[str, str, int]]) -> dict[str, str]:
    """The label set Prometheus stores for a scanned line, or :class:`Bad`."""
    empty = {key for key, value, _ in pairs if not value}
    if "__name__" in empty:
        raise Bad(
            text, next(o for k, _, o in pairs if k == "__name__"), "empty __name__ label: the series loses its name"
        )
    labels: dict[str, str] = {}
    for key, value, offset in pairs:
        if key in empty:
            continue
        if key == "__name__":
            raise Bad(text, offset, "label name '__name__' repeats the metric name")
        if key in labels:
            raise Bad(text, offset, f"duplicate label name {key!r}")
        labels[key] = value
    return labels


def _run_end(s: str, i: int, chars: str) -> int:
    """The end of the run of ``chars`` starting at ``i``.

    ``str.lstrip`` scans in C, on a window: stripping the whole rest of a 64 KiB line for each of
    its thousands of labels would be quadratic.
    """
    while True:
        window = s[i : i + 64]
        rest = window.lstrip(chars)
        if rest or len(window) < 64:
            return i + len(window) - len(rest)
        i += 64


def _token_end(s: str, i: int, stops: str) -> int:
    """The index of the first of ``stops`` at or after ``i``, or the end of ``s``."""
    end = len(s)
    for c in stops:
        k = s.find(c, i, end)
        if k >= 0:
            end = k
    return end


def _skip_ws(s: str, i: int) -> int:
    if i >= len(s) or (s[i] != " " and s[i] != "\t"):
        return i
    return _run_end(s, i, " \t")


def _unescape(raw: str) -> str:
    if "\\" not in raw:
        return raw
    out = []
    i = 0
    while (b := raw.find("\\", i)) >= 0:
        out.append(raw[i:b])
        c = raw[b + 1]
        out.append(_UNESCAPE.get(c, "\\" + c))
        i = b + 2
    out.append(raw[i:])
    return "".join(out)


def _closing_quote(s: str, i: int) -> int:
    """Index of the quote closing a label value from ``i``; -1 when the line ends first, -2 - b
    when it ends in a backslash at ``b`` (an escape needs a character, and a newline is none)."""
    while True:
        q = s.find('"', i)
        b = s.find("\\", i, q if q >= 0 else len(s))
        if b < 0:
            return q
        if b + 1 == len(s):
            return -2 - b
        i = b + 2


def _quoted(s: str, i: int, more: Callable[[], str | None] | None, check_utf8: bool) -> tuple[str, int, str]:
    """A label value whose opening quote is at ``i - 1``: (text, index after the closing quote, value).

    With ``more`` (the text format), a value missing its closing quote continues on the next line:
    Prometheus's text lexer lets a raw newline into a label value.
    """
    start = i
    q = _closing_quote(s, i)
    if q == -1 and more is not None:
        pieces = [s]
        size = len(s)
        while q == -1 and (line := more()) is not None:
            pieces.append(line)
            q = _closing_quote(line, 0)
            if q != -1:
                q += size + 1 if q >= 0 else -(size + 1)
            size += len(line) + 1
        s = "\n".join(pieces)
    if q == -1:
        raise Bad(s, len(s), "unterminated label value: missing the closing '\"'")
    if q < -1:
        raise Bad(s, -2 - q, "backslash at the end of a line inside a label value")
    value = _unescape(s[start:q])
    if check_utf8 and not is_utf8(value):
        raise Bad(s, start, "label value is not valid UTF-8")
    return s, q + 1, value


# -- Prometheus text format 0.0.4 -------------------------------------------------------------------


def scan_text(s: str, more: Callable[[], str | None], check_utf8: bool) -> tuple[str, Scanned | None]:
    """One text-format line: the (possibly extended) text and the sample, or None for other lines."""
    i = _skip_ws(s, 0)
    n = len(s)
    if i == n:
        return s, None
    c = s[i]
    if c == "#":
        _text_comment(s, i, check_utf8)
        return s, None
    if c in NAME_START:
        if i:
            raise Bad(s, 0, "whitespace before the metric name (Prometheus refuses the page)")
        return _text_sample(s, more, check_utf8)
    if c == "\0":
        raise Bad(s, i, "NUL byte at the start of a line (Prometheus would silently ignore the rest of the page)")
    if c == "\r":
        raise Bad(s, i, "carriage return (CRLF line endings are not valid; Prometheus rejects the page)")
    raise Bad(s, i, f"unexpected {c!r} at the start of a line: expected a metric name or '#'")


def _text_comment(s: str, i: int, check_utf8: bool) -> None:
    j = i + 1
    if j >= len(s) or s[j] not in " \t":
        return
    j = _skip_ws(s, j)
    keyword = s[j : j + 4]
    if keyword not in ("HELP", "TYPE") or j + 4 >= len(s) or s[j + 4] not in " \t":
        return
    k = _skip_ws(s, j + 4)
    e = _run_end(s, k, NAME_CHARS) if k < len(s) and s[k] in NAME_START else k
    if e == k:
        raise Bad(s, k, f"expected a metric name after # {keyword}")
    # Prometheus drops the one character after the name (normally the space) and takes the rest.
    text = s[e + 1 :]
    if keyword == "TYPE":
        if text not in TEXT_TYPES:
            raise Bad(
                s,
                min(e + 1, len(s)),
                f"invalid metric type {text!r}: expected counter, gauge, histogram, summary or untyped",
            )
    elif check_utf8 and not is_utf8(text):
        raise Bad(s, e + 1, "HELP text is not valid UTF-8")


def _text_sample(s: str, more: Callable[[], str | None], check_utf8: bool) -> tuple[str, Scanned]:
    j = _run_end(s, 0, NAME_CHARS)
    name = s[:j]
    j = _skip_ws(s, j)
    pairs: list[tuple[str, str, int]] = []
    after = "metric name"
    if j < len(s) and s[j] == "{":
        s, j, pairs = _text_labels(s, j + 1, more, check_utf8)
        j = _skip_ws(s, j)
        after = "labels"
        if j < len(s) and s[j] == "{":
            raise Bad(s, j, "a second label set")
    n = len(s)
    k = _token_end(s, j, " \t{")
    token = s[j:k]
    if not token:
        raise Bad(s, j, f"expected a value after the {after}")
    value = go_float(token)
    if value is None:
        raise Bad(s, j, float_problem(token))
    k = _skip_ws(s, k)
    if k == n:
        return s, (name, pairs, value, None)
    m = _token_end(s, k, " \t")
    word = s[k:m]
    timestamp = text_timestamp(word)
    if timestamp is None:
        if word[0] == "#":
            raise Bad(s, k, "comments and exemplars cannot follow a sample in the text format")
        digits = _run_end(s, k, _DIGITS)
        if k < digits < m and s[digits] == "\r":
            raise Bad(s, digits, "carriage return (CRLF line endings are not valid; Prometheus rejects the page)")
        raise Bad(s, k, text_timestamp_problem(word))
    m = _skip_ws(s, m)
    if m != n:
        raise Bad(s, m, "unexpected text after the timestamp")
    return s, (name, pairs, value, timestamp)


def _text_labels(
    s: str, i: int, more: Callable[[], str | None], check_utf8: bool
) -> tuple[str, int, list[tuple[str, str, int]]]:
    pairs: list[tuple[str, str, int]] = []
    n = len(s)
    while True:
        if i < n and s[i] in " \t":
            i = _skip_ws(s, i)
        if i >= n:
            raise Bad(s, i, "unterminated label set: expected a label name or '}'")
        c = s[i]
        if c == "}":
            return s, i + 1, pairs
        if c not in LABEL_START:
            what = "a second ','" if c == "," else repr(c)
            raise Bad(s, i, f"expected a label name or '}}', found {what}")
        e = _run_end(s, i, LABEL_CHARS)
        key = s[i:e]
        if s[e : e + 2] == '="':
            j = e + 2
        else:
            j = _skip_ws(s, e)
            if j >= n or s[j] != "=":
                raise Bad(s, j, f"expected '=' after label name {key!r}")
            j = _skip_ws(s, j + 1)
            if j >= n or s[j] != '"':
                raise Bad(s, j, f"expected a quoted value for label {key!r}")
            j += 1
        q = s.find('"', j)
        if q >= 0 and s.find("\\", j, q) < 0 and not check_utf8:
            value = s[j:q]
            j = q + 1
        else:
            s, j, value = _quoted(s, j, more, check_utf8)
            n = len(s)
        pairs.append((key, value, i))
        if j < n and s[j] in " \t":
            j = _skip_ws(s, j)
        i = j + 1 if j < n and s[j] == "," else j


# -- OpenMetrics 1.0 -------------------------------------------------------------------------------

EOF: Scanned = ("", [], 0.0, None)  # the marker scan_openmetrics returns for '# EOF'


def scan_openmetrics(s: str, check_utf8: bool) -> Scanned | None:
    """One OpenMetrics line: the sample, None for metadata, or :data:`EOF` for ``# EOF``."""
    if not s:
        raise Bad(s, 0, "blank line (OpenMetrics allows none)")
    c = s[0]
    if c == "#":
        if s == "# EOF":
            return EOF
        _openmetrics_meta(s, check_utf8)
        return None
    if c in NAME_START:
        return _openmetrics_sample(s, check_utf8)
    if c in " \t":
        raise Bad(s, 0, "whitespace at the start of a line (OpenMetrics allows none)")
    if c == "\r":
        raise Bad(s, 0, "carriage return (CRLF line endings are not valid; Prometheus rejects the page)")
    raise Bad(s, 0, f"unexpected {c!r} at the start of a line: expected a metric name or '#'")


def _openmetrics_meta(s: str, check_utf8: bool) -> None:
    if s[1:2] != " ":
        raise Bad(s, 1, "expected '# ' (OpenMetrics comments are '# HELP', '# TYPE', '# UNIT' or '# EOF')")
    keyword = s[2:7]
    if keyword not in ("HELP ", "TYPE ", "UNIT "):
        if s.startswith("# EOF"):
            raise Bad(s, 5, "unexpected text after '# EOF'")
        raise Bad(s, 2, "unknown comment: OpenMetrics allows only '# HELP', '# TYPE', '# UNIT' and '# EOF'")
    keyword = keyword[:4]
    e = _run_end(s, 7, NAME_CHARS) if s[7:8] and s[7] in NAME_START else 7
    if e == 7:
        raise Bad(s, 7, f"expected a metric name after # {keyword}")
    if s[e : e + 1] != " ":
        raise Bad(s, e, f"expected one space and the {keyword} text after the metric name")
    name = s[7:e]
    text = s[e + 1 :]
    if keyword == "TYPE":
        if text not in OPENMETRICS_TYPES:
            allowed = ", ".join(sorted(OPENMETRICS_TYPES))
            raise Bad(s, e + 1, f"invalid metric type {text!r}: expected one of {allowed}")
    elif keyword == "UNIT":
        if text and not name.endswith("_" + text):
            raise Bad(s, e + 1, f"unit {text!r} is not a suffix of the metric name {name!r}")
    elif check_utf8 and not is_utf8(text):
        raise Bad(s, e + 1, "HELP text is not valid UTF-8")


def _openmetrics_sample(s: str, check_utf8: bool) -> Scanned:
    n = len(s)
    e = _run_end(s, 0, NAME_CHARS)
    name = s[:e]
    pairs: list[tuple[str, str, int]] = []
    if e < n and s[e] == "{":
        e, pairs = _openmetrics_labels(s, e + 1, check_utf8)
    token, k = _openmetrics_token(s, e, "value")
    value = go_float(token)
    if value is None:
        raise Bad(s, e + 1, float_problem(token))
    if k == n:
        return name, pairs, value, None
    if s.startswith(" # {", k):
        _exemplar(s, k, name, check_utf8)
        return name, pairs, value, None
    token, m = _openmetrics_token(s, k, "timestamp")
    timestamp = openmetrics_timestamp(token)
    if timestamp is None:
        raise Bad(s, k + 1, openmetrics_timestamp_problem(token))
    if m == n:
        return name, pairs, value, timestamp
    if s.startswith(" # {", m):
        _exemplar(s, m, name, check_utf8)
        return name, pairs, value, timestamp
    raise Bad(s, m, "unexpected text after the timestamp")


def _openmetrics_token(s: str, i: int, what: str) -> tuple[str, int]:
    """The token after the single space at ``i``, and the index after it."""
    if i >= len(s) or s[i] != " ":
        found = "the end of the line" if i >= len(s) else repr(s[i])
        raise Bad(s, i, f"expected one space and the {what}, found {found}")
    end = s.find(" ", i + 1)
    if end < 0:
        end = len(s)
    if end == i + 1:
        raise Bad(s, i + 1, f"expected the {what} after exactly one space")
    return s[i + 1 : end], end


def _exemplar(s: str, i: int, name: str, check_utf8: bool) -> None:
    """Check the exemplar starting with the space at ``i`` (`` # {...} value [timestamp]``)."""
    if not name.endswith(EXEMPLAR_SUFFIXES):
        raise Bad(s, i + 1, f"exemplars are allowed only on _total and _bucket series, not {name!r}")
    e, _ = _openmetrics_labels(s, i + 4, check_utf8)
    token, k = _openmetrics_token(s, e, "exemplar value")
    if go_float(token) is None:
        raise Bad(s, e + 1, float_problem(token, "exemplar value"))
    if k == len(s):
        return
    token, m = _openmetrics_token(s, k, "exemplar timestamp")
    if openmetrics_timestamp(token) is None:
        raise Bad(s, k + 1, openmetrics_timestamp_problem(token, "exemplar timestamp"))
    if m != len(s):
        raise Bad(s, m, "unexpected text after the exemplar timestamp")


def _openmetrics_labels(s: str, i: int, check_utf8: bool) -> tuple[int, list[tuple[str, str, int]]]:
    pairs: list[tuple[str, str, int]] = []
    n = len(s)
    if i < n and s[i] == "}":
        return i + 1, pairs
    while True:
        if i >= n or s[i] not in LABEL_START:
            if i < n and s[i] == "}":
                raise Bad(s, i, "trailing comma in the label set (OpenMetrics allows none)")
            if i < n and s[i] in " \t":
                raise Bad(s, i, "whitespace in the label set (OpenMetrics allows none)")
            raise Bad(s, i, "expected a label name")
        e = _run_end(s, i, LABEL_CHARS)
        key = s[i:e]
        if e >= n or s[e] != "=":
            raise Bad(s, e, f"expected '=' after label name {key!r}")
        if e + 1 >= n or s[e + 1] != '"':
            raise Bad(s, e + 1, f"expected a quoted value for label {key!r}")
        _, q, value = _quoted(s, e + 2, None, check_utf8)
        pairs.append((key, value, i))
        if q < n and s[q] == ",":
            i = q + 1
            continue
        if q < n and s[q] == "}":
            return q + 1, pairs
        if q < n and s[q] in " \t":
            raise Bad(s, q, "whitespace in the label set (OpenMetrics allows none)")
        raise Bad(s, q, "expected ',' or '}' after a label value")
