"""What a page needs when a line is not one the fast path vouches for: the full grammar's driver
over the page's lines (a text-format label value may run over several), repeated series, and errors
with their page line and column.

Imported by the first such line: a page of ordinary lines never loads this nor the grammar.
"""

from __future__ import annotations

from healthgauge.exposition._errors import KEY_IN_MESSAGES, LimitError, ParseError, quote
from healthgauge.exposition._names import canonical
from healthgauge.exposition._sample import Sample
from healthgauge.exposition._scan import EOF, Bad, finish, scan_openmetrics, scan_text

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from typing import Any, Protocol

    from healthgauge.exposition._limits import Limits

    class _Page(Protocol):
        """What this module reads and writes of ``_parse._Page`` (not imported: ``_parse``
        imports this module when a line needs the full grammar, and cycles are not allowed)."""

        lines: list[str]
        om: bool
        check_utf8: bool
        limits: Limits
        joined_too_long: bool
        stop: bool
        samples: list[Sample]
        dropped: list[ParseError] | None
        groups: dict[Any, dict[tuple[str, ...], int]]
        seen_at: dict[Any, tuple[float, int]]
        spans: list[tuple[int, int]] | None
        consumed_to: int
        data: Any

        def lineno(self, idx: int) -> int: ...
        def fail(self, err: ParseError) -> None: ...


_new = tuple.__new__


def error(page: _Page, idx: int, bad: Bad) -> ParseError:
    text, offset = bad.text, bad.offset
    before = text.rfind("\n", 0, offset) + 1
    after = text.find("\n", offset)
    line_text = text[before : after if after >= 0 else len(text)]
    column = offset - before + 1
    line = page.lineno(idx) + text.count("\n", 0, before)
    if page.joined_too_long:
        # Reported where the sample starts: the end is wherever the budget ran out.
        page.joined_too_long = False
        first = text[: text.find("\n")] if "\n" in text else text
        return LimitError(
            f"label value spans lines for more than {page.limits.max_line_chars} characters",
            name="max_line_chars",
            limit=page.limits.max_line_chars,
            unit="characters",
            line=page.lineno(idx),
            column=1,
            text=quote(first),
        )
    return ParseError(bad.reason, line=line, column=column, text=quote(line_text, column))


def slow_line(page: _Page, idx: int) -> int:
    """Parse ``lines[idx]`` with the full grammar; returns the index of the next line to read."""
    line = page.lines[idx]
    text = line
    try:
        if page.om:
            scanned = scan_openmetrics(line, page.check_utf8)
        else:
            text, scanned = scan_text(line, _more(page, idx), page.check_utf8)
        if scanned is None:
            return _after(page, idx, text)
        if scanned is EOF:
            # Prometheus stops at the first '# EOF' and refuses what follows; so do we.
            page.fail(ParseError("unexpected data after '# EOF'", line=page.lineno(idx) + 1, column=1))
            page.stop = True
            return len(page.lines)
        name, pairs, value, timestamp = scanned
        labels = finish(text, name, pairs)
    except Bad as bad:
        page.fail(error(page, idx, bad))
        return _after(page, idx, bad.text)
    group = (name, tuple(sorted(labels)))
    values = tuple(labels[k] for k in group[1])
    key = values  # the same key the fast path builds
    seen = page.groups.setdefault(group, {})
    if timestamp is None:
        if key in seen:
            duplicate(page, idx, name, labels, seen[key], None)
            return _after(page, idx, text)
        seen[key] = idx
    else:
        last = page.seen_at.get((group, key))
        if last is not None and timestamp <= last[0]:
            duplicate(page, idx, name, labels, last[1], (timestamp, last[0]))
            return _after(page, idx, text)
        page.seen_at[group, key] = (timestamp, idx)
    page.samples.append(_new(Sample, (name, labels, value, timestamp)))
    return _after(page, idx, text)


def _after(page: _Page, idx: int, text: str) -> int:
    """The next line to read after ``lines[idx]``, past the lines ``text`` took in (a text
    label value that holds raw newlines). In a names= parse, past the selected lines that
    started inside it: they are part of this sample, not samples."""
    if "\n" not in text:
        return idx + 1
    if page.spans is None:
        return idx + 1 + text.count("\n")
    nxt = idx + 1
    while nxt < len(page.spans) and page.spans[nxt][0] <= page.consumed_to:
        nxt += 1
    return nxt


def _more(page: _Page, idx: int) -> Callable[[], str | None]:
    """The text format's continuation lines, for a label value that holds a raw newline."""
    budget = page.limits.max_line_chars - len(page.lines[idx])
    if page.spans is None:
        lines = page.lines
        nxt = idx + 1

        def more() -> str | None:
            nonlocal budget, nxt
            if nxt >= len(lines):
                return None
            line = lines[nxt]
            nxt += 1
            budget -= len(line) + 1
            if budget < 0:
                page.joined_too_long = True
                return None
            return line

        return more
    following = _lines_after(page, page.spans[idx][1])

    def more_in_data() -> str | None:
        nonlocal budget
        line = next(following, None)
        if line is not None:
            budget -= len(line) + 1
            if budget < 0:
                page.joined_too_long = True
                return None
        return line

    return more_in_data


def _lines_after(page: _Page, end: int) -> Iterator[str]:
    """The page's lines after offset ``end`` (a newline), recording how far it has read."""
    data = page.data
    while end < len(data):
        start = end + 1
        if not isinstance(data, str):
            end = data.find(b"\n", start)
            end = end if end >= 0 else len(data)
            page.consumed_to = end
            yield data[start:end].decode("utf-8", "surrogateescape")
        else:
            end = data.find("\n", start)
            end = end if end >= 0 else len(data)
            page.consumed_to = end
            yield data[start:end]


def duplicate(
    page: _Page, idx: int, name: str, labels: dict[str, str], first: int, times: tuple[float, float] | None
) -> None:
    """A series seen before in this page (at this timestamp or a later one): Prometheus 2.42
    keeps the first sample, drops this one and counts it; so do we, and say so in ``page.dropped``."""
    if page.dropped is None:
        return
    series = canonical(name, labels)
    if len(series) > KEY_IN_MESSAGES:
        series = series[:KEY_IN_MESSAGES] + "…"
    if times is None:
        reason = f"duplicate series {series} dropped (first on line {page.lineno(first)})"
    else:
        at, before = times
        order = "duplicate sample" if at == before else "out-of-order sample"
        reason = (
            f"{order} for {series} at {at!r} dropped "
            f"(line {page.lineno(first)} has it at {before!r}; Prometheus keeps that one)"
        )
    page.dropped.append(ParseError(reason, line=page.lineno(idx), column=1, text=quote(page.lines[idx])))
