"""``names=``: find the lines of a few metric families without reading the rest of the page.

A probe asks about two or three metrics on a page of 100k series. Splitting and tokenising every
line would cost most of the parse; instead ``bytes.find`` (C speed) jumps from one line that begins
with a wanted name to the next, and only those lines are parsed. Every other line is skipped
unvalidated. What stays checked: the page's size, and for OpenMetrics that it ends with ``# EOF``
(a truncated page must not pass as a healthy one).
"""

from __future__ import annotations

from healthgauge.exposition._names import NAME_CHARS, is_metric_name

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Collection
    from typing import TypeVar

    AnyStr = TypeVar("AnyStr", str, bytes)

# The series a family's name stands for: OpenMetrics counters (_total, _created), histograms and
# summaries (_bucket, _count, _sum, _created), gauge histograms (_gcount, _gsum) and info (_info).
FAMILY_SUFFIXES = ("_total", "_created", "_bucket", "_count", "_sum", "_gcount", "_gsum", "_info")
_LONGEST_SUFFIX = max(map(len, FAMILY_SUFFIXES))
_NAME_CHARS_BYTES = NAME_CHARS.encode()


def wanted_names(names: Collection[str]) -> set[str]:
    """Every series name the given family (or series) names select."""
    if isinstance(names, str):
        raise TypeError(f"names= takes a collection of metric names, not a single string: {names!r}")
    wanted: set[str] = set()
    for name in names:
        if not is_metric_name(name):
            raise ValueError(f"names=: {name!r} is not a metric name")
        wanted.add(name)
        wanted.update(name + suffix for suffix in FAMILY_SUFFIXES)
    return wanted


def select_spans(data: bytes | bytearray | str, names: Collection[str]) -> list[tuple[int, int]]:
    """(start, end) offsets of the lines whose series name is selected by ``names``, in page order.

    A line is selected when it starts with a selected series name followed by anything that cannot
    continue a name (a space, ``{``, a tab, a value); lines with leading whitespace are never
    selected (Prometheus refuses them anyway, so the family reads as absent: fail closed).
    """
    if isinstance(data, str):
        return _spans(data, sorted(set(names)), wanted_names(names), "\n", NAME_CHARS)
    key = names if isinstance(names, frozenset) else None
    prepared = _PREPARED.get(key) if key is not None else None
    if prepared is None:
        wanted = wanted_names(names)
        prepared = (sorted({n.encode() for n in names}), {w.encode() for w in wanted})
        if key is not None:
            if len(_PREPARED) >= _PREPARED_MAX:
                _PREPARED.clear()
            _PREPARED[key] = prepared
    # A bytearray (a fetched body, not copied) answers find, startswith and slicing as bytes do.
    return _spans(data, prepared[0], prepared[1], b"\n", _NAME_CHARS_BYTES)  # type: ignore[misc]


# A caller that parses the same names page after page (the agent: one frozenset per target) gets
# them validated and encoded once, not per page (a third of a small page's parse). Bounded: a
# caller with ever-new name sets only refills it.
_PREPARED: dict[frozenset[str], tuple[list[bytes], set[bytes]]] = {}
_PREPARED_MAX = 1024


def _spans(
    data: AnyStr, bases: list[AnyStr], wanted: set[AnyStr], newline: AnyStr, chars: AnyStr
) -> list[tuple[int, int]]:
    starts = set()
    for base in bases:
        size = len(base)
        pattern = newline + base
        hit = 0 if data.startswith(base) else -1
        pos = 0
        while True:
            if hit >= 0:
                # The rest of the name token: a wanted suffix, or too long to be one.
                window = data[hit + size : hit + size + _LONGEST_SUFFIX + 1]
                rest = len(window) - len(window.lstrip(chars))
                if rest <= _LONGEST_SUFFIX and base + window[:rest] in wanted:
                    starts.add(hit)
                pos = hit + size
            found = data.find(pattern, pos)
            if found < 0:
                break
            hit = found + 1
    spans = []
    for start in sorted(starts):
        end = data.find(newline, start)
        spans.append((start, end if end >= 0 else len(data)))
    return spans
