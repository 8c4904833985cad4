"""What promql-parser reads differently from Prometheus 2.42, found in the text before parsing.

promql-parser follows a newer Prometheus grammar; a rule that works here must work in the user's
Prometheus 2.42 alerting rules, and the other way round. Refused with Prometheus's position
(line:column): durations used as numbers (``x + 1m``), quoted metric or label names
(``{"my.metric"}``, ``x{"a.b"="c"}``, ``sum by ("a.b") (x)``), numbers without a unit where a
duration belongs (``x[5]``, ``offset 5``), number literals that overflow a float64 (``1e309``),
and function names newer than 2.42 (``mad_over_time``, ...). Read here because promql-parser reads
them wrongly: ``@`` times (it loses negative ones and saturates large ones; Prometheus rounds to the
millisecond), and ``holt_winters``, which it knows only by its newer name
``double_exponential_smoothing`` (the text it is given says that name instead).
A plain scan (strings skipped, brackets counted) finds all of these without ``re``.
"""

from __future__ import annotations

from healthgauge.promql._errors import PromQLError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

_IDENT = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_:")
_UNITS = ("ms", "s", "m", "h", "d", "w", "y")
_LABEL_LISTS = frozenset(("by", "without", "on", "ignoring", "group_left", "group_right"))
# Functions promql-parser knows that Prometheus 2.42 does not: refused by name.
NEWER_FUNCTIONS = frozenset(
    (
        "mad_over_time", "sort_by_label", "sort_by_label_desc", "info", "double_exponential_smoothing",
        "histogram_avg", "histogram_stddev", "histogram_stdvar", "ts_of_min_over_time", "ts_of_max_over_time",
        "ts_of_last_over_time", "first_over_time", "limitk", "limit_ratio",
    )
)  # fmt: skip
HOLT_WINTERS_AS_PARSED = "double_exponential_smoothing"


def position(text: str, at: int) -> str:
    """``line:column`` (both from 1) of index ``at`` in ``text``, as Prometheus writes positions."""
    line = text.count("\n", 0, at) + 1
    column = at - (text.rfind("\n", 0, at) + 1) + 1
    return f"{line}:{column}"


def _refuse(text: str, at: int, what: str) -> PromQLError:
    return PromQLError(f"{position(text, at)}: {what}, which Prometheus 2.42 refuses: {text!r}")


def _skip_string(text: str, i: int) -> int:
    """The index after the string literal starting at ``i``."""
    quote = text[i]
    i += 1
    while i < len(text) and text[i] != quote:
        i += 2 if text[i] == "\\" and quote != "`" else 1
    return i + 1


class Scan:
    """What the scan found: the text for promql-parser, each ``@`` and each regex matcher's pattern
    in the order written."""

    __slots__ = ("ats", "regexes", "text")

    def __init__(self, text: str, ats: list[int | str], regexes: list[str]) -> None:
        self.text = text
        # Per ``@``: its time in ms, or "start" / "end".
        self.ats = ats
        # Per ``=~`` / ``!~``: the pattern, unquoted as Prometheus unquotes it. promql-parser is
        # given a placeholder instead: it checks patterns with Rust's regex syntax (refusing
        # ``\Q..\E``, and any escape in a backquoted string), not RE2's.
        self.regexes = regexes


_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "\\": "\\"}


def unquote(text: str, start: int, end: int) -> str:
    """The value of the string literal ``text[start:end]``, as Prometheus's ``strutil.Unquote``."""
    quote = text[start]
    body = text[start + 1 : end - 1]
    if quote == "`":
        return body
    if "\\" not in body:
        return body
    out = bytearray()
    i = 0
    while i < len(body):
        c = body[i]
        if c != "\\":
            out += c.encode("utf-8", "surrogatepass")
            i += 1
            continue
        e = body[i + 1 : i + 2]
        i += 2
        if e in _ESCAPES:
            out += _ESCAPES[e].encode()
        elif e == quote:
            out += e.encode()
        elif e in ("x", "u", "U"):
            n = {"x": 2, "u": 4, "U": 8}[e]
            digits = body[i : i + n]
            if len(digits) != n or any(d not in "0123456789abcdefABCDEF" for d in digits):
                raise _refuse(text, start, "invalid escape in a string")
            value = int(digits, 16)
            if e == "x":
                out.append(value)
            elif value > 0x10FFFF:
                raise _refuse(text, start, "invalid escape in a string")
            else:
                out += chr(value).encode("utf-8", "surrogatepass")
            i += n
        elif e in "01234567" and e:
            digits = body[i - 1 : i + 2]
            if len(digits) != 3 or any(d not in "01234567" for d in digits) or int(digits, 8) > 255:
                raise _refuse(text, start, "invalid escape in a string")
            out.append(int(digits, 8))
            i += 2
        else:
            sequence = "\\" + e
            raise _refuse(text, start, f"unknown escape sequence {sequence!r}")
    return out.decode("utf-8", "surrogateescape")


def _number_word(text: str, i: int) -> int:
    """The end of the number starting at ``i`` (``1.5e-3``, ``0x1F``)."""
    n = len(text)
    start = i
    while i < n and (text[i] in _IDENT or text[i] == "."):
        if text[i] in "eE" and i + 1 < n and text[i + 1] in "+-" and not text[start:i].lower().startswith("0x"):
            i += 2
            continue
        i += 1
    return i


def _go_round(x: float) -> int:
    """Go's ``math.Round`` (half away from zero) to an int."""
    r = int(x)
    if abs(x - r) >= 0.5:
        r += 1 if x > 0 else -1
    return r


def _at(text: str, i: int) -> tuple[int | str, int]:
    """The ``@`` operand starting after index ``i``: ms or "start"/"end", and the index after it."""
    n = len(text)
    j = i + 1
    while j < n and text[j].isspace():
        j += 1
    sign = 1.0
    if j < n and text[j] in "+-":
        sign = -1.0 if text[j] == "-" else 1.0
        j += 1
        while j < n and text[j].isspace():
            j += 1
    end = _number_word(text, j)
    word = text[j:end]
    if word in ("start", "end"):
        return word, end
    try:
        value = float(int(word, 16)) if word.lower().startswith("0x") else float(word)
    except ValueError:
        if not word:
            return 0, end  # promql-parser reports the syntax error
        raise _refuse(text, j, f"unexpected {word!r} in @, expected timestamp") from None
    value *= sign
    if value != value or not (-(2.0**63) < value < 2.0**63):
        raise _refuse(text, i, f"timestamp out of bounds for @ modifier: {word}")
    return _go_round(value * 1000), end


def scan(text: str) -> Scan:
    """Raise ``PromQLError`` for syntax Prometheus 2.42 reads otherwise; else what the parser needs."""
    brackets = 0  # inside [...]: durations belong there
    braces = 0
    label_list = False  # inside by (...), on (...), ...
    last_word = ""
    previous = ""  # the last significant character
    ats: list[int | str] = []
    regexes: list[str] = []
    edits: list[tuple[int, int, str]] = []  # (start, end, replacement) in the text promql-parser reads
    i = 0
    n = len(text)
    while i < n:
        c = text[i]
        if c in "\"'`":
            if (braces and previous in "{,") or (label_list and previous in "(,"):
                raise _refuse(text, i, "a quoted metric or label name")
            start = i
            i = _skip_string(text, i)
            if braces and previous == "~" and i <= n:
                regexes.append(unquote(text, start, i))
                negated = text[text.rfind("~", 0, start) - 1] == "!"
                edits.append((start, i, '""' if negated else '"_"'))  # placeholders that keep the selector valid
            elif c == "`" and i <= n and ("\\" in text[start:i] or "\n" in text[start:i]):
                # promql-parser reads escapes in a raw string (`(\d+)` is refused there): say it quoted.
                edits.append((start, i, _double_quoted(text[start + 1 : i - 1])))
            previous = c
            continue
        if c.isspace():
            i += 1
            continue
        if c == "#":  # a comment runs to the end of the line
            while i < n and text[i] != "\n":
                i += 1
            continue
        if c == "@":
            at, i = _at(text, i)
            ats.append(at)
            previous = "@"
            last_word = ""
            continue
        if c in _IDENT or (c == "." and text[i + 1 : i + 2].isdigit()):
            start = i
            if c.isdigit() or c == ".":
                i = _number_word(text, i)
            else:
                while i < n and text[i] in _IDENT:
                    i += 1
            word = text[start:i]
            _check_word(text, start, word, brackets, last_word, braces)
            if word == "holt_winters" and _next_is_paren(text, i):
                edits.append((start, i, HOLT_WINTERS_AS_PARSED))
            last_word = word.lower() if word.lower() in _LABEL_LISTS else word
            previous = word[-1]
            continue
        if c == "(" and last_word in _LABEL_LISTS:
            label_list = True
        elif c == ")":
            label_list = False
        elif c == "[":
            brackets += 1
        elif c == "]":
            brackets = max(0, brackets - 1)
        elif c == "{":
            braces += 1
        elif c == "}":
            braces = max(0, braces - 1)
        if c not in "-+":  # a sign does not separate `offset` from its duration
            last_word = "" if c != "(" or last_word not in _LABEL_LISTS else last_word
        previous = c
        i += 1
    for start, end, replacement in reversed(edits):
        text = text[:start] + replacement + text[end:]
    return Scan(text, ats, regexes)


def _double_quoted(value: str) -> str:
    """``value`` as a double-quoted PromQL string literal."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _next_is_paren(text: str, i: int) -> bool:
    while i < len(text) and text[i].isspace():
        i += 1
    return text[i : i + 1] == "("


def _check_word(text: str, start: int, word: str, brackets: int, last_word: str, braces: int) -> None:
    if word[0].isdigit() or word[0] == ".":
        if brackets:
            at = start
            for part in word.split(":"):
                if part and not _is_duration(part):
                    if not part.strip("0123456789."):
                        raise _refuse(text, at, "missing unit character in duration")
                    raise _refuse(text, at, f"not a valid duration string: {part!r}")
                at += len(part) + 1
        elif last_word == "offset":
            if not _is_duration(word):
                raise _refuse(text, start, f"unexpected number {word!r} in offset, expected duration")
        elif _is_duration(word):
            raise _refuse(text, start, f"the duration {word!r} used as a number")
        elif not word.lower().startswith("0x") and word.lower() not in ("inf", "nan"):
            try:
                value = float(word)
            except ValueError:
                return  # promql-parser reports it
            if value in (float("inf"), float("-inf")):
                raise _refuse(text, start, f"error parsing number: {word!r} is out of the range of a float64")
    elif word in NEWER_FUNCTIONS and not braces and _next_is_paren(text, start + len(word)):
        raise _refuse(text, start, f"unknown function with name {word!r} (newer than Prometheus 2.42)")


def _is_duration(word: str) -> bool:
    """``1m``, ``1h30m``, ``500ms``: digits and units alternating, ending with a unit."""
    i = 0
    seen_unit = False
    while i < len(word):
        j = i
        while j < len(word) and word[j].isdigit():
            j += 1
        if j == i:
            return False
        unit = next((u for u in _UNITS if word.startswith(u, j)), None)
        if unit is None:
            return False
        seen_unit = True
        i = j + len(unit)
    return seen_unit


# What may follow a prefix of a valid expression, to tell whether it can still become one.
_FILLERS = (
    "", " x", "x", " 1", "1", "m", " 1m", "[1m]", '"a"', '="a"', 'a="a"', "(x)", " (x)", "(x[1m])",
    " (a) (x)", "a) (x)", ":]", " bool x", " on() x", "start()", "()", "(x, 1)",
)  # fmt: skip
_OPEN = {"(": ")", "{": "}", "[": "]"}
_OPERATORS = ("==", "!=", ">=", "<=", "=~", "!~")
_MAX_TOKENS = 200


def tokens(text: str) -> list[tuple[int, int]]:
    """(start, end) of each token: strings, words and numbers, two-character operators, other
    characters; blanks and comments skipped."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c.isspace():
            i += 1
        elif c == "#":
            while i < n and text[i] != "\n":
                i += 1
        elif c in "\"'`":
            end = min(_skip_string(text, i), n)
            out.append((i, end))
            i = end
        elif c in _IDENT or c == ".":
            end = _number_word(text, i) if c.isdigit() or c == "." else i
            while end < n and text[end] in _IDENT:
                end += 1
            out.append((i, end))
            i = end
        else:
            end = i + (2 if text.startswith(_OPERATORS, i) else 1)
            out.append((i, end))
            i = end
    return out


def _closers(text: str) -> str | None:
    """What closes the brackets and the string ``text`` leaves open, or None if it closes one too many."""
    stack: list[str] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c in "\"'`":
            end = _skip_string(text, i)
            if end > n:
                return c + "".join(reversed(stack))
            i = end
            continue
        if c in _OPEN:
            stack.append(_OPEN[c])
        elif c in ")}]" and (not stack or stack.pop() != c):
            return None
        i += 1
    return "".join(reversed(stack))


def locate(text: str, valid: Callable[[str], bool]) -> tuple[int, str] | None:
    """Where an invalid ``text`` goes wrong, as Prometheus reports it: the index and text of the
    first token after which no completion makes a valid expression, or ``(len(text), "")`` when
    every prefix could still be completed (the input ended too early). ``valid`` parses a text.
    None for a text too long to search (each token costs a few parses)."""
    spans = tokens(text)
    if len(spans) > _MAX_TOKENS:
        return None
    for start, end in spans:
        prefix = text[:end]
        if not any((close := _closers(prefix + f)) is not None and valid(prefix + f + close) for f in _FILLERS):
            return start, text[start:end]
    return len(text), ""
