"""The driver: limits, decoding, a fast path for the lines exporters actually write, duplicates,
and the errors of a lenient parse.

Almost every line of a real page has one shape: ``name{a="x",b="y"} value`` with single spaces,
no escapes, labels in a consistent order. The fast path recognises that shape with a few C-level
string operations (``find``, ``split``) and caches what it learns per metric name and per label
"skeleton" (the text between the values: ``a=``, ``,b=``), so a histogram's fifteen lines validate
their label names once. Anything else (whitespace variants, escapes, exemplars, comments, errors)
goes to :mod:`._scan`, which implements the whole grammar and gives the error its line and column.
Both must agree on every line; the test suite checks them against each other and against a real
Prometheus.
"""

from __future__ import annotations

from healthgauge.exposition._content import is_openmetrics
from healthgauge.exposition._errors import LimitError, ParseError, quote
from healthgauge.exposition._limits import Limits
from healthgauge.exposition._numbers import openmetrics_timestamp, text_timestamp
from healthgauge.exposition._sample import Sample
from healthgauge.exposition._scan import (
    EOF,
    OPENMETRICS_TYPES,
    TEXT_TYPES,
    Bad,
    canonical,
    finish,
    is_label_name,
    is_metric_name,
    scan_openmetrics,
    scan_text,
)
from healthgauge.exposition._select import select_spans

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Collection, Iterator

    Skeleton = tuple[tuple[str, ...], bool] | None

_new = tuple.__new__
_NUMERIC = "0123456789.eE+-"
_INF = float("inf")
_FAST_SPECIALS = {"NaN": float("nan"), "+Inf": _INF, "-Inf": -_INF}
_KEY_IN_MESSAGES = 100


class _SlowLine(Exception):
    """Raised inside the fast path for a line it leaves to the full grammar (never escapes)."""


_SLOW = _SlowLine()


def parse_page(
    data: bytes | str,
    content_type: str | None,
    names: Collection[str] | None,
    limits: Limits,
    lenient: bool,
) -> tuple[list[Sample], list[ParseError]]:
    """Samples and (lenient only) errors of one page; strict mode raises the first error instead."""
    if not hasattr(data, "decode") and not hasattr(data, "encode"):
        raise TypeError(f"parse() takes bytes or str, not {type(data).__name__}")
    try:
        om = is_openmetrics(content_type)
        if len(data) > limits.max_body_bytes:
            unit = "bytes" if not isinstance(data, str) else "characters"
            raise LimitError(
                f"page of {len(data)} {unit} exceeds the limit of {limits.max_body_bytes} bytes",
                name="max_body_bytes",
                limit=limits.max_body_bytes,
                unit="bytes",
                line=0,
                column=0,
            )
        page = _Page(data, om, names, limits, lenient)
    except ParseError as err:
        if not lenient:
            raise
        return [], [err]
    page.parse()
    return page.samples, page.finish_errors()


def _decode(data: bytes | str) -> tuple[str, bool]:
    """The text, and whether it may hold invalid UTF-8 (kept as surrogates, checked where it matters).

    Prometheus requires UTF-8 only in label values and HELP text: elsewhere a bad byte either sits
    in a comment (allowed) or breaks a name or value (an error anyway).
    """
    if isinstance(data, str):
        return data, not data.isascii() and not _encodable(data)
    try:
        return data.decode("utf-8"), False
    except UnicodeDecodeError:
        return data.decode("utf-8", "surrogateescape"), True


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _skeleton(heads: tuple[str, ...], om: bool) -> Skeleton:
    """Label names from the text around a label set's values, or None when the fast path must not
    decide: ``('a=', ',b=', '')`` -> ``(('a', 'b'), True)``; the flag says the line spells its
    series canonically (sorted names, no spaces, no trailing comma), so its text is its identity."""
    *fronts, tail = heads
    names = []
    plain = True
    for i, front in enumerate(fronts):
        if om:
            key = front[1:-1] if i else front[:-1]
            ok = front[-1:] == "=" and (not i or front[:1] == ",")
        else:
            # Prometheus text: blanks anywhere, the comma optional.
            part = front.strip(" \t")
            if i and part[:1] == ",":
                part = part[1:].lstrip(" \t")
            key = part[:-1].rstrip(" \t")
            ok = part[-1:] == "="
            plain = plain and front == ("," if i else "") + key + "="
        if not ok or not is_label_name(key) or key == "__name__":
            return None
        names.append(key)
    if tail and (om or tail.strip(" \t") not in ("", ",")):
        return None
    if len(set(names)) != len(names):
        return None  # repeated names: the scanner applies Prometheus's rules for them
    plain = plain and not tail and bool(names) and names == sorted(names)
    return tuple(names), plain


class _Page:
    """One parse: the lines, what the fast path has learnt so far, the samples and the errors."""

    def __init__(self, data: bytes | str, om: bool, names: Collection[str] | None, limits: Limits, lenient: bool):
        self.data = data
        self.om = om
        self.limits = limits
        self.lenient = lenient
        self.samples: list[Sample] = []
        self.errors: list[ParseError] = []
        self.unlisted = 0
        self.first_unlisted = 0
        self.seen: dict[str, int] = {}
        self.seen_at: dict[str, tuple[float, int]] = {}
        self.known_names: set[str] = set()
        self.skeletons: dict[tuple[str, ...], Skeleton] = {}
        self.spans: list[tuple[int, int]] | None = None
        self.eof = not om
        self.stop = False
        self.joined_too_long = False
        if names is None:
            text, self.check_utf8 = _decode(data)
            self.lines = text.split("\n")
        else:
            self.spans = select_spans(data, names)
            self.eof = not om or _ends_with_eof(data)
            if isinstance(data, str):
                self.lines = [data[s:e] for s, e in self.spans]
                self.check_utf8 = not data.isascii() and not _encodable(data)
            else:
                text, self.check_utf8 = _decode(b"\n".join([data[s:e] for s, e in self.spans]))
                self.lines = text.split("\n") if self.spans else []

    # -- positions ---------------------------------------------------------------------------

    def lineno(self, idx: int) -> int:
        """The 1-based page line of ``lines[idx]``."""
        if self.spans is None:
            return idx + 1
        data, start = self.data, self.spans[idx][0]
        return (data.count(b"\n", 0, start) if isinstance(data, bytes) else data.count("\n", 0, start)) + 1

    def error(self, idx: int, bad: Bad) -> ParseError:
        text, offset = bad.text, bad.offset
        before = text.rfind("\n", 0, offset) + 1
        after = text.find("\n", offset)
        line_text = text[before : after if after >= 0 else len(text)]
        column = offset - before + 1
        line = self.lineno(idx) + text.count("\n", 0, before)
        if self.joined_too_long:
            self.joined_too_long = False
            return LimitError(
                f"label value spans more than {self.limits.max_line_chars} characters",
                name="max_line_chars",
                limit=self.limits.max_line_chars,
                unit="characters",
                line=line,
                column=column,
                text=quote(line_text, column),
            )
        return ParseError(bad.reason, line=line, column=column, text=quote(line_text, column))

    def fail(self, err: ParseError) -> None:
        if not self.lenient:
            raise err
        if len(self.errors) < self.limits.max_errors:
            self.errors.append(err)
        else:
            self.unlisted += 1
            self.first_unlisted = self.first_unlisted or err.line

    def finish_errors(self) -> list[ParseError]:
        if self.unlisted:
            reason = f"{self.unlisted} more errors not listed (limit max_errors={self.limits.max_errors})"
            self.errors.append(ParseError(reason, line=self.first_unlisted, column=1))
        return self.errors

    # -- the whole page -----------------------------------------------------------------------

    def parse(self) -> None:
        lines = self.lines
        end = len(lines)
        if self.om and self.spans is None:
            if end and not lines[end - 1]:
                end -= 1  # the newline that ends the last line
            self.eof = bool(end) and lines[end - 1] == "# EOF"
            end -= self.eof
        self.run_all(end)
        if not self.eof and not self.stop:
            line = end + 1 if self.spans is None else 0
            self.fail(ParseError("missing '# EOF' at the end of an OpenMetrics page (truncated?)", line=line, column=1))

    def run_all(self, end: int) -> None:
        """Lines ``[0, end)``, with the line-length and series limits enforced between chunks."""
        limits = self.limits
        lines = self.lines
        cap = limits.max_line_chars
        too_long = [i for i in range(end) if len(lines[i]) > cap] if end and max(map(len, lines)) > cap else []
        too_long.append(end)
        barriers = iter(too_long)
        barrier = next(barriers)
        i = 0
        while i < end and not self.stop:
            while barrier < i:
                barrier = next(barriers)
            if i == barrier:
                text = lines[i]
                self.fail(
                    LimitError(
                        f"line of {len(text)} characters exceeds the limit of {cap}",
                        name="max_line_chars",
                        limit=cap,
                        unit="characters",
                        line=self.lineno(i),
                        column=cap + 1,
                        text=quote(text, cap + 1),
                    )
                )
                i += 1
                continue
            room = limits.max_series - len(self.samples)
            if room > 0:
                i = self.run(i, min(barrier, i + room))
                continue
            i = self.run(i, i + 1)
            if len(self.samples) > limits.max_series:
                self.samples.pop()
                self.fail(
                    LimitError(
                        f"more than {limits.max_series} series",
                        name="max_series",
                        limit=limits.max_series,
                        unit="series",
                        line=self.lineno(i - 1),
                        column=1,
                        text=quote(lines[i - 1]),
                    )
                )
                self.stop = True

    # -- the fast path ------------------------------------------------------------------------

    def run(self, start: int, stop: int) -> int:
        """Parse ``lines[start:stop]``; returns where to continue (past lines a sample spanned)."""
        lines = self.lines
        chunk = lines if start == 0 and stop == len(lines) else lines[start:stop]
        om = self.om
        check_utf8 = self.check_utf8
        types = OPENMETRICS_TYPES if om else TEXT_TYPES
        timestamp_of = openmetrics_timestamp if om else text_timestamp
        known_names = self.known_names
        skeletons = self.skeletons
        seen = self.seen
        seen_at = self.seen_at
        append = self.samples.append
        specials = _FAST_SPECIALS
        numeric = _NUMERIC
        for idx, line in enumerate(chunk, start):
            try:
                if not line:
                    if om:
                        raise _SLOW
                    continue
                if line[0] == "#":
                    if line.startswith("# TYPE "):
                        parts = line.split(" ")
                        if len(parts) == 4 and parts[3] in types and is_metric_name(parts[2]):
                            continue
                    elif line.startswith("# HELP ") and not check_utf8:
                        parts = line.split(" ", 3)
                        if (len(parts) == 4 or not om) and is_metric_name(parts[2]):
                            continue
                    raise _SLOW
                brace = line.find("{")
                if brace < 0:
                    parts = line.split(" ")
                    if len(parts) == 2:
                        name, token = parts
                        timestamp = None
                    elif len(parts) == 3:
                        name, token, stamp = parts
                        if (timestamp := timestamp_of(stamp)) is None:
                            raise _SLOW
                    else:
                        raise _SLOW
                    labels = {}
                    key = name
                else:
                    close = line.rfind("}")
                    inner = line[brace + 1 : close]
                    parts = inner.split('"')
                    if close < brace or "\\" in inner or not len(parts) & 1:
                        raise _SLOW
                    heads = tuple(parts[::2])
                    try:
                        skeleton = skeletons[heads]
                    except KeyError:
                        skeleton = skeletons[heads] = _skeleton(heads, om)
                    if skeleton is None:
                        raise _SLOW
                    keys, plain = skeleton
                    values = parts[1::2]
                    labels = dict(zip(keys, values, strict=True))
                    if "" in values:
                        labels = {k: v for k, v in labels.items() if v}
                        plain = False
                    name = line[:brace]
                    parts = line[close + 1 :].split(" ")
                    if parts[0] or not 2 <= len(parts) <= 3:
                        raise _SLOW
                    token = parts[1]
                    timestamp = None
                    if len(parts) == 3 and (timestamp := timestamp_of(parts[2])) is None:
                        raise _SLOW
                    key = line[: close + 1] if plain else canonical(name, labels)
                if name not in known_names:
                    if not is_metric_name(name):
                        raise _SLOW
                    known_names.add(name)
                if (value := specials.get(token)) is None:
                    try:
                        value = float(token)
                    except ValueError:
                        raise _SLOW from None
                    if value - value or token.strip(numeric):
                        raise _SLOW  # inf, nan, or characters Go refuses (blanks, CR, '_')
            except _SlowLine:
                if (nxt := self.slow(idx)) != idx + 1:
                    return nxt
                continue
            if timestamp is None:
                if key in seen:
                    self.duplicate(idx, key, None)
                    continue
                seen[key] = idx
            else:
                last = seen_at.get(key)
                if last is not None and timestamp <= last[0]:
                    self.duplicate(idx, key, timestamp)
                    continue
                seen_at[key] = (timestamp, idx)
            append(_new(Sample, (name, labels, value, timestamp)))
        return stop

    # -- everything else ----------------------------------------------------------------------

    def slow(self, idx: int) -> int:
        """Parse ``lines[idx]`` with the full grammar; returns the index of the next line to read."""
        line = self.lines[idx]
        text = line
        try:
            if self.om:
                scanned = scan_openmetrics(line, self.check_utf8)
            else:
                text, scanned = scan_text(line, self._more(idx), self.check_utf8)
            if scanned is None:
                return idx + 1 + self._skipped(text)
            if scanned is EOF:
                # Prometheus stops at the first '# EOF' and refuses what follows; so do we.
                self.fail(ParseError("unexpected data after '# EOF'", line=self.lineno(idx) + 1, column=1))
                self.stop = True
                return len(self.lines)
            name, pairs, value, timestamp = scanned
            labels = finish(text, name, pairs)
        except Bad as bad:
            self.fail(self.error(idx, bad))
            return idx + 1 + self._skipped(bad.text)
        key = canonical(name, labels)
        if timestamp is None:
            if key in self.seen:
                self.duplicate(idx, key, None)
                return idx + 1 + self._skipped(text)
            self.seen[key] = idx
        else:
            last = self.seen_at.get(key)
            if last is not None and timestamp <= last[0]:
                self.duplicate(idx, key, timestamp)
                return idx + 1 + self._skipped(text)
            self.seen_at[key] = (timestamp, idx)
        self.samples.append(_new(Sample, (name, labels, value, timestamp)))
        return idx + 1 + self._skipped(text)

    def _skipped(self, text: str) -> int:
        """Lines after this one that ``text`` took in (a label value with raw newlines); in a
        names= parse those lines are not in ``lines``, so there is nothing to skip."""
        return text.count("\n") if self.spans is None else 0

    def _more(self, idx: int) -> Callable[[], str | None]:
        """The text format's continuation lines, for a label value that holds a raw newline."""
        budget = self.limits.max_line_chars - len(self.lines[idx])
        if self.spans is None:
            lines = self.lines
            nxt = idx + 1

            def more() -> str | None:
                nonlocal budget, nxt
                if nxt >= len(lines):
                    return None
                line = lines[nxt]
                nxt += 1
                budget -= len(line) + 1
                if budget < 0:
                    self.joined_too_long = True
                    return None
                return line

            return more
        following = self._lines_after(self.spans[idx][1])

        def more_in_data() -> str | None:
            nonlocal budget
            line = next(following, None)
            if line is not None:
                budget -= len(line) + 1
                if budget < 0:
                    self.joined_too_long = True
                    return None
            return line

        return more_in_data

    def _lines_after(self, end: int) -> Iterator[str]:
        data = self.data
        while end < len(data):
            start = end + 1
            if isinstance(data, bytes):
                end = data.find(b"\n", start)
                end = end if end >= 0 else len(data)
                yield data[start:end].decode("utf-8", "surrogateescape")
            else:
                end = data.find("\n", start)
                end = end if end >= 0 else len(data)
                yield data[start:end]

    def duplicate(self, idx: int, key: str, timestamp: float | None) -> None:
        """A series seen before in this page (at this timestamp or a later one): Prometheus keeps
        the first sample and drops this one; we say so (strict) or skip it and say so (lenient)."""
        series = key if len(key) <= _KEY_IN_MESSAGES else key[:_KEY_IN_MESSAGES] + "…"
        if timestamp is None:
            reason = f"duplicate series {series} (first on line {self.lineno(self.seen[key])})"
        else:
            first, first_idx = self.seen_at[key]
            order = "duplicate sample" if timestamp == first else "out-of-order sample"
            reason = (
                f"{order} for {series} at {timestamp!r} "
                f"(line {self.lineno(first_idx)} has it at {first!r}; Prometheus keeps that one)"
            )
        self.fail(ParseError(reason, line=self.lineno(idx), column=1, text=quote(self.lines[idx])))


def _ends_with_eof(data: bytes | str) -> bool:
    tail = data[-7:]
    if isinstance(tail, bytes):
        tail = tail.decode("latin-1")
    tail = tail.removesuffix("\n")
    return tail == "# EOF" or tail.endswith("\n# EOF")
