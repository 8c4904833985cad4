"""Nagios plugin output: the status text, the long text and the performance data. Pure.

The Nagios Plugin Development Guidelines (nagios-plugins.org/doc/guidelines.html, "Plugin
Output" and "Performance data") define the shape::

    TEXT | 'label'=value[UOM];[warn];[crit];[min];[max] ...
    LONG TEXT LINE 2
    LONG TEXT LINE 3 | more perfdata
    more perfdata

- Performance data follows the first ``|`` of the first line, and of the first later line that
  has one; every line after that one is performance data too.
- Items are separated by spaces. A label is quoted with single quotes when it holds spaces or
  ``=``; a quote inside it is doubled (``'it''s'``).
- ``value`` and ``min``/``max`` are numbers (``U`` for an undetermined value); ``warn``/``crit``
  are ranges (``10``, ``10:``, ``~:10``, ``10:20``, ``@10:20``: alert inside). Trailing unfilled
  semicolons may be dropped.
- UOM is one of ``s ms us % B KB MB TB c`` or none.

Only our own :class:`PerfdataError` ever describes a bad item, and a bad item never hides the
good ones: :func:`parse_output` returns both, so a plugin that prints garbage is reported as such
while its exit code still counts.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

UNITS = ("s", "ms", "us", "%", "B", "KB", "MB", "TB", "c")
#: Output read from a plugin, in characters: Nagios 3 reads up to 8 KB of a plugin's output
#: (MAX_PLUGIN_OUTPUT_LENGTH); more is cut, as it cuts it.
MAX_OUTPUT = 8192
#: Items kept from one output: every item becomes a few series in the target's history.
MAX_ITEMS = 64

_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
_VALUE = re.compile(r"([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|U)([a-zA-Z%]*)")


class PerfdataError(ValueError):
    """One performance data item could not be read; the message quotes it and says why."""


@dataclass(frozen=True, slots=True)
class Range:
    """A Nagios threshold range: alert outside ``start``..``end`` (inside when ``inside``)."""

    start: float = 0.0
    end: float = math.inf
    inside: bool = False

    def alerts(self, value: float) -> bool:
        within = self.start <= value <= self.end
        return within if self.inside else not within


@dataclass(frozen=True, slots=True)
class Perfdata:
    """One item: ``value`` is NaN for ``U``; missing fields are ``None``."""

    label: str
    value: float
    uom: str = ""
    warn: Range | None = None
    crit: Range | None = None
    min: float | None = None
    max: float | None = None


@dataclass(frozen=True, slots=True)
class PluginOutput:
    """What a plugin printed: the first line's text, the long text, the items, the bad items."""

    text: str
    long_text: str = ""
    perfdata: tuple[Perfdata, ...] = ()
    errors: tuple[str, ...] = ()


def parse_output(output: str) -> PluginOutput:
    """Split a plugin's output into text and performance data; bad items are listed, not raised."""
    output = output[:MAX_OUTPUT]
    lines = output.splitlines() or [""]
    text, _, perf = lines[0].partition("|")
    chunks = [perf] if perf else []
    long_lines: list[str] = []
    rest = iter(lines[1:])
    for line in rest:
        head, bar, tail = line.partition("|")
        long_lines.append(head)
        if bar:
            chunks.append(tail)
            chunks.extend(rest)
            break
    items, errors = parse_perfdata(" ".join(chunks))
    return PluginOutput(text=text.strip(), long_text="\n".join(long_lines).strip(), perfdata=items, errors=errors)


def parse_perfdata(text: str) -> tuple[tuple[Perfdata, ...], tuple[str, ...]]:
    """Every item of a performance data string, and a message for each one that is malformed."""
    items: list[Perfdata] = []
    errors: list[str] = []
    for token in split_items(text):
        if len(items) >= MAX_ITEMS:
            errors.append(f"more than {MAX_ITEMS} performance data items: the rest are ignored")
            break
        try:
            items.append(parse_item(token))
        except PerfdataError as exc:
            errors.append(str(exc))
    return tuple(items), tuple(errors)


def split_items(text: str) -> list[str]:
    """Items split at spaces outside single-quoted labels (a doubled quote stays inside)."""
    items: list[str] = []
    current: list[str] = []
    quoted = False
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "'":
            if quoted and text[i + 1 : i + 2] == "'":
                current.append("''")
                i += 2
                continue
            quoted = not quoted
        if ch.isspace() and not quoted:
            if current:
                items.append("".join(current))
                current = []
        else:
            current.append(ch)
        i += 1
    if current:
        items.append("".join(current))
    return items


def parse_item(token: str) -> Perfdata:
    """``'label'=value[UOM];warn;crit;min;max`` -> :class:`Perfdata`, or :class:`PerfdataError`."""
    label, rest = _label(token)
    fields = rest.split(";")
    if len(fields) > 5:
        raise PerfdataError(f"{_quote(token)}: more than 5 fields after '='")
    match = _VALUE.fullmatch(fields[0])
    if match is None:
        raise PerfdataError(f"{_quote(token)}: the value {_quote(fields[0])} is not a number[UOM]")
    number, uom = match.groups()
    if uom not in UNITS and uom != "":
        raise PerfdataError(f"{_quote(token)}: unknown unit {_quote(uom)} (known: {' '.join(UNITS)})")
    fields += [""] * (5 - len(fields))
    return Perfdata(
        label=label,
        value=math.nan if number == "U" else float(number),
        uom=uom,
        warn=_range(fields[1], token),
        crit=_range(fields[2], token),
        min=_bound(fields[3], token),
        max=_bound(fields[4], token),
    )


def parse_range(text: str) -> Range:
    """A Nagios range: ``10`` (0..10), ``10:`` (10..inf), ``~:10`` (-inf..10), ``10:20``, ``@10:20``."""
    inside = text.startswith("@")
    body = text[1:] if inside else text
    start_text, colon, end_text = body.partition(":")
    if not colon:
        start_text, end_text = "0", body
    start = -math.inf if start_text == "~" else _number(start_text or "0")
    end = math.inf if end_text == "" and colon else _number(end_text)
    if start > end:
        raise ValueError(f"the start {start:g} is above the end {end:g}")
    return Range(start=start, end=end, inside=inside)


def _label(token: str) -> tuple[str, str]:
    if token.startswith("'"):
        close = 1
        while True:
            close = token.find("'", close)
            if close < 0:
                raise PerfdataError(f"{_quote(token)}: the label's quote is not closed")
            if token[close + 1 : close + 2] != "'":
                break
            close += 2
        label, rest = token[1:close].replace("''", "'"), token[close + 1 :]
        if not rest.startswith("="):
            raise PerfdataError(f"{_quote(token)}: no '=' after the quoted label")
        rest = rest[1:]
    else:
        label, eq, rest = token.partition("=")
        if not eq:
            raise PerfdataError(f"{_quote(token)}: no '=' (expected 'label'=value[UOM];warn;crit;min;max)")
    if not label:
        raise PerfdataError(f"{_quote(token)}: an empty label")
    return label, rest


def _range(text: str, token: str) -> Range | None:
    if not text:
        return None
    try:
        return parse_range(text)
    except ValueError as exc:
        raise PerfdataError(f"{_quote(token)}: invalid threshold range {_quote(text)}: {exc}") from None


def _bound(text: str, token: str) -> float | None:
    if not text:
        return None
    try:
        return _number(text)
    except ValueError:
        raise PerfdataError(f"{_quote(token)}: {_quote(text)} is not a number") from None


def _number(text: str) -> float:
    if _NUMBER.fullmatch(text) is None:
        raise ValueError(f"{_quote(text)} is not a number")
    return float(text)


def _quote(text: str, width: int = 60) -> str:
    shown = text if len(text) <= width else text[: width - 3] + "..."
    return '"' + shown.encode("unicode_escape").decode("ascii").replace('"', '\\"') + '"'
