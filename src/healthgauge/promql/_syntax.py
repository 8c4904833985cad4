"""What promql-parser accepts but Prometheus 2.42 refuses, found in the text before parsing.

promql-parser follows a newer Prometheus grammar. Two of its additions would let a rule work here
and fail in the user's Prometheus alerting rules, so they are refused with Prometheus's position:
durations used as numbers (``x + 1m``), and quoted metric or label names (``{"my.metric"}``,
``x{"a.b"="c"}``, ``sum by ("a.b") (x)``). A plain scan (strings skipped, brackets counted)
finds both without ``re``.
"""

from __future__ import annotations

from healthgauge.promql._errors import PromQLError

_IDENT = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_:")
_UNITS = ("ms", "s", "m", "h", "d", "w", "y")
_LABEL_LISTS = frozenset(("by", "without", "on", "ignoring", "group_left", "group_right"))


def _refuse(text: str, at: int, what: str) -> PromQLError:
    return PromQLError(f"{what} (column {at + 1}), which Prometheus 2.42 refuses: {text!r}")


def _skip_string(text: str, i: int) -> int:
    """The index after the string literal starting at ``i``."""
    quote = text[i]
    i += 1
    while i < len(text) and text[i] != quote:
        i += 2 if text[i] == "\\" and quote != "`" else 1
    return i + 1


def check(text: str) -> None:
    """Raise ``PromQLError`` for syntax newer than Prometheus 2.42's."""
    brackets = 0  # inside [...]: durations belong there
    braces = 0
    label_list = False  # inside by (...), on (...), ...
    last_word = ""
    previous = ""  # the last significant character
    i = 0
    n = len(text)
    while i < n:
        c = text[i]
        if c in "\"'`":
            if (braces and previous in "{,") or (label_list and previous in "(,"):
                raise _refuse(text, i, "a quoted metric or label name")
            i = _skip_string(text, i)
            previous = c
            continue
        if c.isspace():
            i += 1
            continue
        if c == "#":  # a comment runs to the end of the line
            while i < n and text[i] != "\n":
                i += 1
            continue
        if c in _IDENT:
            start = i
            while i < n and (text[i] in _IDENT or (text[i] == "." and text[start].isdigit())):
                i += 1
            word = text[start:i]
            if word[0].isdigit() and not brackets and last_word != "offset" and _is_duration(word):
                raise _refuse(text, start, f"the duration {word!r} used as a number")
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
