"""The driver: limits, decoding, a fast path for the lines exporters actually write, duplicates,
and the errors of a lenient parse.

Almost every line of a real page has one shape: ``name{a="x",b="y"} value`` with single spaces,
no escapes, the same label names in the same order as its neighbours. The fast path splits such a
line on ``"`` (one C call), so the text between the values, ``('name{a=', ',b=')``, is a
"skeleton" it has seen before: a dict lookup returns the validated name, label names, how to sort
the values, and the set of series already seen with those labels. A histogram's fifteen lines are
validated once. Anything else (whitespace variants, escapes, exemplars, comments, errors) goes to
:mod:`._scan`, which implements the whole grammar and gives the error its line and column; its
driver over the page's lines is :mod:`._slow`, imported with it by the first line that needs it.
Both paths must agree on every line: the tests check them against each other and against a real
Prometheus.
"""

from __future__ import annotations

from _operator import itemgetter

from healthgauge.exposition._content import is_openmetrics
from healthgauge.exposition._errors import LimitError, ParseError, quote
from healthgauge.exposition._limits import Limits
from healthgauge.exposition._names import (
    OPENMETRICS_TYPES,
    TEXT_TYPES,
    is_label_name,
    is_metric_name,
    is_utf8,
)
from healthgauge.exposition._numbers import NUMERIC_CHARS, openmetrics_timestamp, text_timestamp
from healthgauge.exposition._sample import Sample
from healthgauge.exposition._select import select_spans

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Collection

    GroupId = tuple[str, tuple[str, ...]]  # (name, sorted label names): one series identity space
    Seen = dict[tuple[str, ...], int]  # series key (its values in label-name order) -> its line index
    Build = Callable[[list[str]], dict[str, str]]  # a line split on '"' -> its labels
    ValuesOf = Callable[[list[str]], tuple[str, ...]]  # ... -> its values in label-name order
    # name, the two functions above, the group's seen series, the group
    Skeleton = tuple[str, Build, ValuesOf, Seen, GroupId]

_new = tuple.__new__
_FAST_SPECIALS = frozenset({"NaN", "+Inf", "-Inf", "Inf", "nan", "inf", "+inf", "-inf"})


class _SlowLine(Exception):
    """Raised inside the fast path for a line it leaves to the full grammar (never escapes).

    Raised as a class, never as a shared instance: re-raising one instance chains every raise's
    traceback onto the last, which grows without bound over a page of odd lines.
    """


def parse_page(
    data: bytes | bytearray | str,
    content_type: str | None,
    names: Collection[str] | None,
    limits: Limits,
    lenient: bool,
    dropped: list[ParseError] | None = None,
) -> tuple[list[Sample], list[ParseError]]:
    """Samples and (lenient only) errors of one page; strict mode raises the first error instead.
    A repeated series is neither: its sample is dropped, and said in ``dropped`` when given."""
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
        page.dropped = dropped
    except ParseError as err:
        if not lenient:
            raise
        return [], [err]
    page.parse()
    return page.samples, page.finish_errors()


def _split_escaped(line: str) -> list[str]:
    """``line.split('"')`` for a line whose label values hold escapes, values unescaped as
    Prometheus does (``\\\\``, ``\\"``, ``\\n``; any other escape kept as written), or ``[]``.

    Escaped backslashes and quotes are swapped for two control characters before the split, so
    the split only sees real quotes; a line that already holds those characters is not for this.
    """
    if "\x01" in line or "\x02" in line:
        return []
    parts = line.replace("\\\\", "\x01").replace('\\"', "\x02").split('"')
    for i in range(1, len(parts), 2):
        value = parts[i]
        if "\\" in value or "\x01" in value or "\x02" in value:
            parts[i] = value.replace("\\n", "\n").replace("\x02", '"').replace("\x01", "\\")
    return parts


# Label-set builders per tuple of label names, shared by every parse: a page uses a handful of
# label-name combinations, a process a few hundred. Bounded, so hostile pages cannot grow it.
_BUILDERS: dict[tuple[str, ...], tuple[Build, ValuesOf]] = {}
_MAX_BUILDERS = 1024
_MAX_COMPILED_LABELS = 64


def _builders(keys: tuple[str, ...]) -> tuple[Build, ValuesOf]:
    """Functions that make a line's label dict and series key from ``line.split('"')``.

    The dict is built by a compiled dict display (``{'a': p[1], 'b': p[3]}``), five times faster
    than ``dict(zip(keys, p[1::2]))``: it is the one Python object every sample needs. The source
    holds only validated label names (identifiers), quoted with ``repr``.
    """
    try:
        return _BUILDERS[keys]
    except KeyError:
        pass
    order = sorted(range(len(keys)), key=keys.__getitem__)
    build: Build
    if len(keys) <= _MAX_COMPILED_LABELS:
        items = ", ".join(f"{key!r}: p[{2 * i + 1}]" for i, key in enumerate(keys))
        build = eval(f"lambda p: {{{items}}}")
    else:  # compiling costs per label: a hostile page of huge label sets gets the generic way

        def build(p: list[str]) -> dict[str, str]:
            return dict(zip(keys, p[1::2]))  # noqa: B905 (equal lengths by construction)

    values_of: ValuesOf = itemgetter(*(2 * i + 1 for i in order)) if len(keys) > 1 else eval("lambda p: (p[1],)")
    if len(_BUILDERS) >= _MAX_BUILDERS:
        _BUILDERS.clear()
    _BUILDERS[keys] = build, values_of
    return build, values_of


# Label names by the texts around the values (``('a=', ',b=')``), shared by every parse and by
# every family with the same labels.
_KEYS: dict[tuple[bool, tuple[str, ...]], tuple[str, ...] | None] = {}


def _label_names(fronts: tuple[str, ...], om: bool) -> tuple[str, ...] | None:
    """``('a=', ',b=')`` -> ``('a', 'b')``, or None when the fast path must not decide."""
    keys = []
    for i, front in enumerate(fronts):
        if om:
            key = front[1:-1] if i else front[:-1]
            ok = front[-1:] == "=" and (not i or front[:1] == ",")
        else:
            # Prometheus text: blanks around every token, and the comma is optional.
            part = front.strip(" \t")
            if i and part[:1] == ",":
                part = part[1:].lstrip(" \t")
            key = part[:-1].rstrip(" \t")
            ok = part[-1:] == "="
        if not ok or not is_label_name(key) or key == "__name__":
            return None
        keys.append(key)
    if len(set(keys)) != len(keys):
        return None  # a repeated name: the full rules decide (an empty value may remove it)
    return tuple(keys)


def _decode(data: bytes | bytearray | str) -> tuple[str, bool]:
    """The text, and whether it may hold invalid UTF-8 (kept as surrogates, checked where it matters).

    Prometheus requires UTF-8 only in label values and HELP text: elsewhere a bad byte either sits
    in a comment (allowed) or breaks a name or value (an error anyway).
    """
    if isinstance(data, str):
        return data, not data.isascii() and not is_utf8(data)
    try:
        return data.decode("utf-8"), False
    except UnicodeDecodeError:
        return data.decode("utf-8", "surrogateescape"), True


class _Page:
    """One parse: the lines, what the fast path has learnt so far, the samples and the errors."""

    def __init__(
        self, data: bytes | bytearray | str, om: bool, names: Collection[str] | None, limits: Limits, lenient: bool
    ):
        self.data = data
        self.om = om
        self.limits = limits
        self.lenient = lenient
        self.samples: list[Sample] = []
        self.errors: list[ParseError] = []
        # Samples of a series already in the page, dropped as Prometheus drops them: said here.
        self.dropped: list[ParseError] | None = None
        self.unlisted = 0
        self.first_unlisted = 0
        # Series identity: a group per (name, sorted label names), keyed by the values in that
        # order; timestamped samples (histories) keep their last timestamp per series instead.
        self.groups: dict[GroupId, Seen] = {}
        self.seen_at: dict[tuple[GroupId, tuple[str, ...]], tuple[float, int]] = {}
        self.unlabelled: dict[str, tuple[Seen, GroupId]] = {}
        # Skeletons by the text before a line's first label value; see run().
        self.by_first: dict[str, tuple[list[str], Skeleton | None]] = {}
        self.spans: list[tuple[int, int]] | None = None
        self.span_lines: list[int] | None = None
        self.consumed_to = 0  # names=: how far a label value running over lines has read
        self.eof = not om
        self.stop = False
        self.joined_too_long = False
        if names is None:
            text, self.check_utf8 = _decode(data)
            self.ascii = text.isascii()
            self.lines = text.split("\n")
        else:
            self.spans = select_spans(data, names)
            self.eof = not om or _ends_with_eof(data)
            if isinstance(data, str):
                self.lines = [data[s:e] for s, e in self.spans]
                self.ascii = data.isascii()
                self.check_utf8 = not self.ascii and not is_utf8(data)
            else:
                text, self.check_utf8 = _decode(b"\n".join([data[s:e] for s, e in self.spans]))
                self.ascii = text.isascii()
                self.lines = text.split("\n") if self.spans else []

    # -- positions ---------------------------------------------------------------------------

    def lineno(self, idx: int) -> int:
        """The 1-based page line of ``lines[idx]``."""
        if self.spans is None:
            return idx + 1
        if self.span_lines is None:
            # Only an error needs it: then one pass counts the newlines between selected lines.
            data = self.data
            newline: bytes | str = "\n" if isinstance(data, str) else b"\n"
            numbers, line, at = [], 1, 0
            for start, _ in self.spans:
                line += data.count(newline, at, start)  # type: ignore[arg-type]
                numbers.append(line)
                at = start
            self.span_lines = numbers
        return self.span_lines[idx]

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
            # At the cap: one line at a time, until one would add a sample.
            line, i = i, self.run(i, i + 1)
            if len(self.samples) > limits.max_series:
                self.samples.pop()
                self.fail(
                    LimitError(
                        f"more than {limits.max_series} series",
                        name="max_series",
                        limit=limits.max_series,
                        unit="series",
                        line=self.lineno(line),
                        column=1,
                        text=quote(lines[line]),
                    )
                )
                self.stop = True

    # -- the fast path ------------------------------------------------------------------------

    def run(self, start: int, stop: int) -> int:
        """Parse ``lines[start:stop]``; returns where to continue (past lines a sample spanned)."""
        lines = self.lines
        chunk = lines if start == 0 and stop == len(lines) else lines[start:stop]
        om = self.om
        closers = ("}",) if om else ("}", ",}")
        timestamp_of = openmetrics_timestamp if om else text_timestamp
        unlabelled = self.unlabelled
        by_first = self.by_first
        seen_at = self.seen_at
        append = self.samples.append
        specials = _FAST_SPECIALS
        numeric = NUMERIC_CHARS
        # On an ASCII page a value of digits only is a valid Go float; elsewhere str.isdigit()
        # would also pass other scripts' digits, which float() reads and Prometheus refuses.
        ascii_page = self.ascii
        check_utf8 = self.check_utf8
        slow_line: Callable[[_Page, int], int] | None = None
        for idx, line in enumerate(chunk, start):
            try:
                if check_utf8 and not line.isascii():
                    raise _SlowLine  # bytes that were not UTF-8 may sit in a label value
                parts = line.split('"')
                if len(parts) == 1:
                    words = line.split(" ")
                    name = words[0]
                    if len(words) == 2:
                        token = words[1]
                        timestamp = None
                    elif len(words) == 3 and name != "#":
                        token = words[1]
                        if (timestamp := timestamp_of(words[2])) is None:
                            raise _SlowLine
                    elif not line:
                        if om:
                            raise _SlowLine  # OpenMetrics has no blank lines
                        continue
                    elif self.metadata_ok(words):
                        continue
                    else:
                        raise _SlowLine
                    try:
                        seen, group = unlabelled[name]
                    except KeyError:
                        if not is_metric_name(name):
                            raise _SlowLine from None
                        group = (name, ())
                        seen = self.groups.setdefault(group, {})
                        unlabelled[name] = seen, group
                    labels = {}
                    key: tuple[str, ...] = ()
                else:
                    if "\\" in line:
                        parts = _split_escaped(line)
                    if not len(parts) & 1:
                        raise _SlowLine  # a quote left open (a value going on to the next line)
                    # The skeleton: by the text before the first value (name and first label),
                    # confirmed by the texts between the other values.
                    known = by_first.get(parts[0])
                    middles = parts[2:-1:2]
                    if known is None or known[0] != middles:
                        known = by_first[parts[0]] = middles, self.skeleton((parts[0], *middles))
                    if (skeleton := known[1]) is None:
                        raise _SlowLine
                    name, build, values_of, seen, group = skeleton
                    key = values_of(parts)
                    if "" in key:
                        raise _SlowLine  # an empty value removes its label: the full rules apply
                    tail = parts[-1].split(" ")
                    if len(tail) == 2 and tail[0] == "}":
                        token = tail[1]
                        timestamp = None
                    elif tail[0] not in closers or not 2 <= len(tail) <= 3:
                        raise _SlowLine
                    else:
                        token = tail[1]
                        timestamp = None
                        if len(tail) == 3 and (timestamp := timestamp_of(tail[2])) is None:
                            raise _SlowLine
                    labels = build(parts)
                try:
                    value = float(token)
                except ValueError:
                    raise _SlowLine from None
                if value - value:  # inf or nan: only the usual spellings here
                    if token not in specials:
                        raise _SlowLine
                elif not (ascii_page and token.isdigit()) and token.strip(numeric):
                    raise _SlowLine  # characters float() takes and Go does not: blanks, CR, '_'
            except _SlowLine:
                if slow_line is None:  # the full grammar, imported by the first line that needs it
                    from healthgauge.exposition import _slow

                    slow_line = _slow.slow_line
                if (nxt := slow_line(self, idx)) != idx + 1:
                    return nxt
                continue
            if timestamp is None:
                if (first := seen.setdefault(key, idx)) != idx:
                    self.duplicate(idx, name, labels, first, None)
                    continue
            else:
                last = seen_at.get((group, key))
                if last is not None and timestamp <= last[0]:
                    self.duplicate(idx, name, labels, last[1], (timestamp, last[0]))
                    continue
                seen_at[group, key] = (timestamp, idx)
            append(_new(Sample, (name, labels, value, timestamp)))
        return stop

    def metadata_ok(self, words: list[str]) -> bool:
        """A ``# HELP``/``# TYPE`` line (split on spaces) the fast path can vouch for."""
        if len(words) < 3 or words[0] != "#":
            return False
        if words[1] == "TYPE":
            types = OPENMETRICS_TYPES if self.om else TEXT_TYPES
            return len(words) == 4 and words[3] in types and is_metric_name(words[2])
        if words[1] == "HELP":
            # OpenMetrics needs the space after the name even for an empty text.
            return not self.check_utf8 and is_metric_name(words[2]) and (len(words) > 3 or not self.om)
        return False

    def skeleton(self, heads: tuple[str, ...]) -> Skeleton | None:
        """What the text around a line's label values says, or None when the fast path must not
        decide: ``('up{job=', ',zone=')`` -> name ``up``, labels ``job`` and ``zone``."""
        first = heads[0]
        brace = first.find("{")
        name = first[:brace] if self.om else first[:brace].rstrip(" \t")
        if brace < 0 or not is_metric_name(name):
            return None
        fronts = (first[brace + 1 :], *heads[1:])
        try:
            keys = _KEYS[self.om, fronts]
        except KeyError:
            keys = _label_names(fronts, self.om)
            if len(_KEYS) >= _MAX_BUILDERS:
                _KEYS.clear()
            _KEYS[self.om, fronts] = keys
        if keys is None:
            return None
        build, values_of = _builders(keys)
        group = (name, tuple(sorted(keys)))
        return name, build, values_of, self.groups.setdefault(group, {}), group

    def duplicate(
        self, idx: int, name: str, labels: dict[str, str], first: int, times: tuple[float, float] | None
    ) -> None:
        """A series seen before in this page: its sample is dropped (and said in ``dropped``)."""
        from healthgauge.exposition._slow import duplicate

        duplicate(self, idx, name, labels, first, times)


def _ends_with_eof(data: bytes | bytearray | str) -> bool:
    tail = data[-7:]
    if not isinstance(tail, str):
        tail = tail.decode("latin-1")
    tail = tail.removesuffix("\n")
    return tail == "# EOF" or tail.endswith("\n# EOF")
