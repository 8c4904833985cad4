"""The parser's errors: one small tree, and every error says where and what.

::

    ValueError
     └── ParseError        a page, or one line of it, is not valid exposition text
          └── LimitError   a page exceeds a configured limit (body size, line length, series)

Both are the exporter's fault (the page), never the caller's: a caller that passes a wrong argument
(an unknown format name, a negative limit) gets a plain ``ValueError``/``TypeError`` instead.
"""

from __future__ import annotations

# How much of a series key a message quotes.
KEY_IN_MESSAGES = 100

# How much of the offending line an error quotes. A page line can be 64 KiB long; an error message
# has to fit a log line and a probe's one-line output.
QUOTE_CHARS = 120

# Control characters are quoted visibly: a stray CR or NUL is often the whole story of a bad line.
_VISIBLE = {i: f"\\x{i:02x}" for i in range(32)} | {9: "\\t", 10: "\\n", 13: "\\r", 127: "\\x7f"}


def quote(text: str, column: int = 1, width: int = QUOTE_CHARS) -> str:
    """``text`` cut to about ``width`` characters around ``column`` (1-based), controls made visible."""
    if len(text) > width:
        start = max(0, min(column - 1 - width // 2, len(text) - width))
        end = start + width
        text = ("…" if start else "") + text[start:end] + ("…" if end < len(text) else "")
    return text.translate(_VISIBLE)


class ParseError(ValueError):
    """A page that is not valid exposition text, with the place and the reason.

    ``line`` and ``column`` are 1-based (``column`` counts characters of the decoded line);
    ``line`` is 0 when the error concerns the page as a whole (its size, its content type).
    ``text`` quotes the offending line, cut to :data:`QUOTE_CHARS` characters around ``column``
    with control characters made visible. ``str()`` reads ``line 3, column 18: invalid value
    'x1': expected a float such as 1, -2.5e3, NaN or +Inf: app_state{a="b"} x1``.
    """

    def __init__(self, reason: str, *, line: int, column: int, text: str = "") -> None:
        super().__init__(reason, line, column, text)
        self.reason = reason
        self.line = line
        self.column = column
        self.text = text

    def __str__(self) -> str:
        where = f"line {self.line}, column {self.column}" if self.line else "page"
        return f"{where}: {self.reason}: {self.text}" if self.text else f"{where}: {self.reason}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.reason!r}, line={self.line}, column={self.column}, text={self.text!r})"

    def __reduce__(self) -> tuple[object, ...]:
        return (_rebuild, (type(self), self.__dict__))


class LimitError(ParseError):
    """A page that exceeds a limit: ``limit`` is the configured maximum, ``unit`` what it counts
    (``"bytes"``, ``"characters"``, ``"series"``), ``name`` the :class:`Limits` field."""

    def __init__(
        self, reason: str, *, name: str, limit: int, unit: str, line: int, column: int, text: str = ""
    ) -> None:
        super().__init__(reason, line=line, column=column, text=text)
        self.name = name
        self.limit = limit
        self.unit = unit


def _rebuild(cls: type[ParseError], state: dict[str, object]) -> ParseError:
    # Errors cross process boundaries (a big page parsed in a worker): rebuild without __init__.
    err = cls.__new__(cls)
    err.args = (state["reason"], state["line"], state["column"], state["text"])
    err.__dict__.update(state)
    return err
