"""The exposition conformance table: pages, and what must come of them.

One table, run against every implementation (STYLE.md 10): our fast path, our full grammar alone,
and a real Prometheus 2.42 scraping each page (test_differential.py). Most cases come from asking
that Prometheus first; where we deliberately differ, the case says so in ``prometheus``.

Page text may hold two placeholders, so that the same case works at a fixed time here and near
"now" for a real Prometheus (which drops samples too far in the past): ``@T@`` is a timestamp in
milliseconds, ``@S@`` the same instant in seconds (T is a whole second).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from unittest import mock

from healthgauge.exposition._parse import _Page
from healthgauge.exposition._slow import slow_line

NAN = math.nan
INF = math.inf

# The instant @T@ stands for in the unit tests (the differential test picks a recent one).
T = 1_795_000_000_000

# (name, labels, value, timestamp as milliseconds after T, or None)
Expected = tuple[str, dict[str, str], float, int | None]


@dataclass(frozen=True)
class Case:
    id: str
    page: bytes
    om: bool = False
    # Valid page: its samples. Invalid page: (line, column, words the reason contains).
    samples: tuple[Expected, ...] | None = None
    error: tuple[int, int, str] | None = None
    # What Prometheus does where it is not simply "the same":
    #   "keeps-first"  accepts the page and stores the first sample of a repeated series; so do we,
    #                  and ``error`` is then what we say of the dropped one (in ``dropped=``)
    #   "accepts"      accepts a page we refuse on purpose (it would silently lose data)
    #   "unstored"     accepts, but stores nothing we can compare (timestamps outside its window)
    prometheus: str = "same"

    def content_type(self) -> str | None:
        return "application/openmetrics-text; version=1.0.0" if self.om else None


def ok(id: str, page: bytes, *samples: Expected, om: bool = False, prometheus: str = "same") -> Case:
    return Case(id, page, om=om, samples=samples, prometheus=prometheus)


def bad(
    id: str, page: bytes, line: int, column: int, reason: str, *, om: bool = False, prometheus: str = "same"
) -> Case:
    return Case(id, page, om=om, error=(line, column, reason), prometheus=prometheus)


@contextmanager
def full_grammar_only() -> Iterator[None]:
    """Route every line through the full grammar (``_scan``, driven by ``_slow``): the reference
    the fast path must agree with, line for line."""

    def run(self: _Page, start: int, stop: int) -> int:
        i = start
        while i < stop and not self.stop:
            i = slow_line(self, i)
        return i

    with mock.patch.object(_Page, "run", run):
        yield


def fill(page: bytes, t_ms: int) -> bytes:
    """The page with its placeholders replaced for the instant ``t_ms`` (a whole second):
    ``@T@`` milliseconds, ``@T+N@`` N seconds later in milliseconds, ``@S@`` seconds."""
    assert t_ms % 1000 == 0
    page = page.replace(b"@T@", str(t_ms).encode()).replace(b"@S@", str(t_ms // 1000).encode())
    while (at := page.find(b"@T+")) >= 0:
        end = page.index(b"@", at + 1)
        page = page[:at] + str(t_ms + 1000 * int(page[at + 3 : end])).encode() + page[end + 1 :]
    return page


TEXT: list[Case] = [
    # -- valid pages, and what Prometheus stores of them ------------------------------------------
    ok("basic", b'a{x="1"} 1\n', ("a", {"x": "1"}, 1.0, None)),
    ok("no-labels", b"a 1\nb 2\n", ("a", {}, 1.0, None), ("b", {}, 2.0, None)),
    ok("colons", b"a:b:c 1\n:x 2\na: 3\n", ("a:b:c", {}, 1.0, None), (":x", {}, 2.0, None), ("a:", {}, 3.0, None)),
    ok("empty-braces", b"a{} 1\n", ("a", {}, 1.0, None)),
    ok("trailing-comma", b'a{x="1",} 1\n', ("a", {"x": "1"}, 1.0, None)),
    ok("no-comma", b'a{x="1" y="2"} 1\n', ("a", {"x": "1", "y": "2"}, 1.0, None)),
    ok("no-comma-no-space", b'a{x="1"y="2"} 1\n', ("a", {"x": "1", "y": "2"}, 1.0, None)),
    ok("space-after-comma", b'a{x="1", y="2"} 1\n', ("a", {"x": "1", "y": "2"}, 1.0, None)),
    ok("blanks-in-labels", b'a{ x = "1" ,\ty="2" , } 1\n', ("a", {"x": "1", "y": "2"}, 1.0, None)),
    ok("space-before-brace", b'a {x="1"} 1\n', ("a", {"x": "1"}, 1.0, None)),
    ok("tabs", b"a\t1\t@T@\n", ("a", {}, 1.0, 0)),
    ok("trailing-blanks", b"a 1  \nb 2\t\n", ("a", {}, 1.0, None), ("b", {}, 2.0, None)),
    ok("blanks-around-timestamp", b"a 1    @T@   \n", ("a", {}, 1.0, 0)),
    ok("glued-value", b"a-1\nb+Inf\n", ("a", {}, -1.0, None), ("b", {}, INF, None)),
    ok("glued-after-labels", b'a{x="1"}-2\nb{x="1"}3\n', ("a", {"x": "1"}, -2.0, None), ("b", {"x": "1"}, 3.0, None)),
    ok(
        "floats",
        b'f{k="1"} NaN\nf{k="2"} +Inf\nf{k="3"} -Inf\nf{k="4"} 1e3\nf{k="5"} .5\nf{k="6"} 5.\n'
        b'f{k="7"} inf\nf{k="8"} nan\nf{k="9"} Infinity\nf{k="10"} -1.5E-3\nf{k="11"} INF\n'
        b'f{k="12"} -INFINITY\nf{k="13"} nAn\nf{k="14"} 1e-400\nf{k="15"} 1.7976931348623157e308\n'
        b'f{k="16"} -0\nf{k="17"} 4.9e-324\nf{k="18"} 007\nf{k="19"} +.5e+2\n',
        ("f", {"k": "1"}, NAN, None),
        ("f", {"k": "2"}, INF, None),
        ("f", {"k": "3"}, -INF, None),
        ("f", {"k": "4"}, 1000.0, None),
        ("f", {"k": "5"}, 0.5, None),
        ("f", {"k": "6"}, 5.0, None),
        ("f", {"k": "7"}, INF, None),
        ("f", {"k": "8"}, NAN, None),
        ("f", {"k": "9"}, INF, None),
        ("f", {"k": "10"}, -0.0015, None),
        ("f", {"k": "11"}, INF, None),
        ("f", {"k": "12"}, -INF, None),
        ("f", {"k": "13"}, NAN, None),
        ("f", {"k": "14"}, 0.0, None),
        ("f", {"k": "15"}, 1.7976931348623157e308, None),
        ("f", {"k": "16"}, -0.0, None),
        ("f", {"k": "17"}, 5e-324, None),
        ("f", {"k": "18"}, 7.0, None),
        ("f", {"k": "19"}, 50.0, None),
    ),
    ok(
        "escapes",
        b'a{x="q\\"\\\\\\n"} 1\nb{x="\\t\\q\\a"} 2\n',
        ("a", {"x": 'q"\\\n'}, 1.0, None),
        ("b", {"x": "\\t\\q\\a"}, 2.0, None),
    ),
    ok("raw-newline-in-value", b'a{x="1\n2"} 1\nb 2\n', ("a", {"x": "1\n2"}, 1.0, None), ("b", {}, 2.0, None)),
    ok("raw-newlines-spanning-a-comment", b'a{x="1\n# HELP\nb"} 1\n', ("a", {"x": "1\n# HELP\nb"}, 1.0, None)),
    ok("raw-newline-at-end-of-page", b'a{x="1\n2"} 1', ("a", {"x": "1\n2"}, 1.0, None)),
    ok("unicode-values", 'a{x="hé☃😀"} 1\n'.encode(), ("a", {"x": "hé☃😀"}, 1.0, None)),
    ok("nul-in-value", b'a{x="a\x00b"} 1\n', ("a", {"x": "a\x00b"}, 1.0, None)),
    ok("cr-in-value", b'a{x="1\r"} 1\n', ("a", {"x": "1\r"}, 1.0, None)),
    ok("dunder-label", b'a{__foo="1"} 1\n', ("a", {"__foo": "1"}, 1.0, None)),
    ok("empty-value-is-absent", b'a{x="",y="1"} 1\n', ("a", {"y": "1"}, 1.0, None)),
    # Prometheus's label builder deletes every label whose name has an empty value somewhere.
    ok(
        "empty-value-removes-the-name",
        b'a{x="",x="1"} 1\nb{x="1",x=""} 2\n',
        ("a", {}, 1.0, None),
        ("b", {}, 2.0, None),
    ),
    ok(
        "comments",
        b"# just a comment\n#nospace\n# HELP\n# HELPx foo\n#\tHELP a x\n  # HELP a x\n# HELP a{x} x\n"
        b"# TYPE a{gauge\n# HELP a \x00x\n# foo\x00bar\n# hi \xff\n#\n# HELP a x\r\n# EOF\na 1\n",
        ("a", {}, 1.0, None),
    ),
    ok("help-edge-cases", b"# HELP a\n# HELP b   \n# HELP c\tfoo\n# HELP  d x\na 1\n", ("a", {}, 1.0, None)),
    ok(
        "metadata-is-not-checked-for-consistency",
        b"# TYPE a gauge\n# TYPE a counter\n# TYPE b untyped\n# TYPE\tc\tsummary\na 1\n",
        ("a", {}, 1.0, None),
    ),
    ok("metadata-without-final-newline", b"a 1\n# HELP a x", ("a", {}, 1.0, None)),
    ok("blank-lines", b"\n\na 1\n\n   \n\t\nb 2\n", ("a", {}, 1.0, None), ("b", {}, 2.0, None)),
    ok("no-final-newline", b"a 1", ("a", {}, 1.0, None)),
    ok("empty-page", b""),
    ok("only-newline", b"\n"),
    ok("timestamp", b"a 1 @T@\n", ("a", {}, 1.0, 0)),
    ok("timestamp-leading-zeros", b"a 1 000@T@\n", ("a", {}, 1.0, 0)),
    ok("timestamp-zero", b"a 1 0\n", ("a", {}, 1.0, -T), prometheus="unstored"),
    ok("timestamp-int64-max", b"a 1 9223372036854775807\n", ("a", {}, 1.0, 2**63 - 1 - T), prometheus="unstored"),
    ok(
        "histogram",
        b'# HELP h Latency.\n# TYPE h histogram\nh_bucket{le="0.1"} 1\nh_bucket{le="+Inf"} 2\nh_sum 3.5\nh_count 2\n',
        ("h_bucket", {"le": "0.1"}, 1.0, None),
        ("h_bucket", {"le": "+Inf"}, 2.0, None),
        ("h_sum", {}, 3.5, None),
        ("h_count", {}, 2.0, None),
    ),
    ok(
        "summary",
        b'# TYPE s summary\ns{quantile="0.5"} 0.1\ns{quantile="0.99"} NaN\ns_sum 1\ns_count 3\n',
        ("s", {"quantile": "0.5"}, 0.1, None),
        ("s", {"quantile": "0.99"}, NAN, None),
        ("s_sum", {}, 1.0, None),
        ("s_count", {}, 3.0, None),
    ),
    ok(
        "history",
        b"a 1 @T@\nb 5 @T@\na 2 @T+15@\na 3 @T+30@\n",
        ("a", {}, 1.0, 0),
        ("b", {}, 5.0, 0),
        ("a", {}, 2.0, 15_000),
        ("a", {}, 3.0, 30_000),
    ),
    ok("with-and-without-timestamp", b"a 1 @T@\na 2\n", ("a", {}, 1.0, 0), ("a", {}, 2.0, None)),
    # -- invalid pages: Prometheus refuses the whole page; we say where and why --------------------
    bad("crlf", b"a 1\r\nb 2\r\n", 1, 3, "carriage return"),
    bad("crlf-after-comments", b"# HELP a x\r\n# TYPE a gauge\r\na 1\r\n", 2, 10, "invalid metric type 'gauge\\r'"),
    bad("cr-alone", b"a 1\rb 2\n", 1, 3, "carriage return"),
    bad("crlf-blank-line", b"a 1\n\r\n", 2, 1, "carriage return"),
    bad("crlf-after-timestamp", b"a 1 @T@\r\n", 1, 18, "carriage return"),
    bad("leading-space", b"a 1\n  b 2\n", 2, 1, "whitespace before the metric name"),
    bad("leading-tab", b"\tb 2\n", 1, 1, "whitespace before the metric name"),
    bad("negative-timestamp", b"a 1 -5\n", 1, 5, "negative"),
    bad("negative-zero-timestamp", b"a 1 -0\n", 1, 5, "negative"),
    bad("decimal-timestamp", b"a 1 @T@.5\n", 1, 5, "integer milliseconds"),
    bad("timestamp-sign", b"a 1 +5\n", 1, 5, "integer milliseconds"),
    bad("timestamp-overflow", b"a 1 9223372036854775808\n", 1, 5, "out of range"),
    bad("two-timestamps", b"a 1 @T@ 3\n", 1, 19, "unexpected text after the timestamp"),
    bad("comment-after-sample", b"a 1 # c\n", 1, 5, "cannot follow a sample"),
    bad("exemplar-in-text", b'a_total 1 # {t="x"} 1\n', 1, 11, "cannot follow a sample"),
    bad("lone-comma", b"a{,} 1\n", 1, 3, "found a second ','"),
    bad("double-comma", b'a{x="1",,y="2"} 1\n', 1, 9, "found a second ','"),
    bad("label-name-digit", b'a{1x="1"} 1\n', 1, 3, "expected a label name"),
    bad("label-name-colon", b'a{x:y="1"} 1\n', 1, 4, "expected '=' after label name 'x'"),
    bad("label-name-empty", b'a{="1"} 1\n', 1, 3, "expected a label name"),
    bad("unquoted-value", b"a{x=1} 1\n", 1, 5, "expected a quoted value"),
    bad("unterminated-value", b'a{x="1} 1\n', 2, 1, "unterminated label value"),
    bad("escaped-closing-quote", b'a{x="1\\"} 1\n', 2, 1, "unterminated label value"),
    bad("backslash-newline", b'a{x="1\\\n2"} 1\n', 1, 7, "backslash at the end of a line"),
    bad("unterminated-label-set", b'a{x="1" 1\n', 1, 9, "expected a label name or '}'"),
    bad("second-label-set", b'a{x="1"}{y="2"} 1\n', 1, 9, "a second label set"),
    bad("missing-value", b"a\n", 1, 2, "expected a value after the metric name"),
    bad("missing-value-after-labels", b'a{x="1"} \n', 1, 10, "expected a value after the labels"),
    bad("plus-nan", b"a +NaN\n", 1, 3, "NaN takes no sign"),
    bad("overflow", b"a 1e400\n", 1, 3, "out of the float64 range"),
    bad("digit-separator", b"a 1_000\n", 1, 3, "invalid value '1_000'"),
    bad("hex-float", b"a 0x1p3\n", 1, 3, "invalid value"),
    bad("hex", b"a 0x1\n", 1, 3, "invalid value"),
    bad("infin", b"a Infin\n", 1, 3, "invalid value"),
    bad("dot", b"a .\n", 1, 3, "invalid value"),
    bad("bare-exponent", b"a 1e\n", 1, 3, "invalid value"),
    bad("bare-sign", b"a +\n", 1, 3, "invalid value"),
    bad("brace-in-value", b"a 1}\n", 1, 3, "invalid value '1}'"),
    bad("form-feed", b"a 1\x0c\n", 1, 3, "invalid value"),
    bad("unicode-digit", "a ٣\n".encode(), 1, 3, "invalid value"),
    bad("non-ascii-name", "aé 1\n".encode(), 1, 2, "invalid value 'é'"),
    bad("bom", b"\xef\xbb\xbfa 1\n", 1, 1, "unexpected '\\ufeff' at the start of a line"),
    bad("vertical-tab-start", b"\x0ba 1\n", 1, 1, "unexpected '\\x0b' at the start of a line"),
    bad("type-unknown-word", b"# TYPE a foo\na 1\n", 1, 10, "invalid metric type 'foo'"),
    bad("type-unknown-in-text", b"# TYPE a unknown\n", 1, 10, "invalid metric type 'unknown'"),
    bad("type-gaugehistogram-in-text", b"# TYPE a gaugehistogram\n", 1, 10, "invalid metric type"),
    bad("type-missing", b"# TYPE a\na 1\n", 1, 9, "invalid metric type ''"),
    bad("type-trailing-space", b"# TYPE a gauge \n", 1, 10, "invalid metric type 'gauge '"),
    bad("type-two-spaces", b"# TYPE a  gauge\n", 1, 10, "invalid metric type ' gauge'"),
    bad("type-capitalised", b"# TYPE a Gauge\n", 1, 10, "invalid metric type 'Gauge'"),
    bad("help-bad-name", b"# HELP 1a x\n", 1, 8, "expected a metric name after # HELP"),
    bad("help-no-name", b"# HELP \na 1\n", 1, 8, "expected a metric name after # HELP"),
    bad("bad-utf8-label-value", b'a{x="\xff"} 1\n', 1, 6, "not valid UTF-8"),
    bad("bad-utf8-help", b"# HELP a \xff\n", 1, 10, "HELP text is not valid UTF-8"),
    bad("repeated-label-name", b'a{x="1",x="2"} 1\n', 1, 9, "duplicate label name 'x'"),
    bad("name-label", b'a{__name__="b"} 1\n', 1, 3, "repeats the metric name"),
    bad("empty-name-label", b'a{__name__=""} 1\n', 1, 3, "empty __name__"),
    # Prometheus stops reading at a NUL that starts a line and stores what came before: a silently
    # truncated page. We refuse it.
    bad("nul-starts-a-line", b"a 1\n\x00junk\nb 2\n", 2, 1, "NUL byte", prometheus="accepts"),
    bad("nul-after-blanks", b"a 1\n  \x00\nb 2\n", 2, 3, "NUL byte", prometheus="accepts"),
    # Duplicates: Prometheus keeps the first sample and drops the rest without failing the scrape.
    bad(
        "duplicate",
        b'a{x="1"} 1\na{x="1"} 2\n',
        2,
        1,
        'duplicate series a{x="1"} dropped (first on line 1)',
        prometheus="keeps-first",
    ),
    bad(
        "duplicate-reordered",
        b'a{x="1",y="2"} 1\na{y="2",x="1"} 2\n',
        2,
        1,
        "duplicate series",
        prometheus="keeps-first",
    ),
    bad(
        "duplicate-empty-label",
        b'a{x=""} 1\na 2\n',
        2,
        1,
        "duplicate series a dropped (first on line 1)",
        prometheus="keeps-first",
    ),
    bad("duplicate-escaped", b'a{x="\\q"} 1\na{x="\\\\q"} 2\n', 2, 1, "duplicate series", prometheus="keeps-first"),
    bad("duplicate-newline", b'a{x="1\n2"} 1\na{x="1\\n2"} 2\n', 3, 1, "first on line 1", prometheus="keeps-first"),
    bad("duplicate-timestamp", b"a 1 @T@\na 2 @T@\n", 2, 1, "duplicate sample", prometheus="keeps-first"),
    bad("out-of-order", b"a 1 @T+1@\na 2 @T@\n", 2, 1, "out-of-order sample", prometheus="keeps-first"),
]

OPENMETRICS: list[Case] = [
    # -- valid -------------------------------------------------------------------------------------
    ok("om-basic", b'a{x="1"} 1\n# EOF\n', ("a", {"x": "1"}, 1.0, None), om=True),
    ok("om-eof-without-newline", b"a 1\n# EOF", ("a", {}, 1.0, None), om=True),
    ok("om-only-eof", b"# EOF\n", om=True),
    ok("om-empty-braces", b"a{} 1\n# EOF\n", ("a", {}, 1.0, None), om=True),
    ok("om-colons", b"a:b 1\n# EOF\n", ("a:b", {}, 1.0, None), om=True),
    ok(
        "om-metadata",
        b'# TYPE a_seconds gauge\n# UNIT a_seconds seconds\n# HELP a_seconds x\\ny\\"\\\\\\q\n'
        b"# UNIT b \n# HELP c \na_seconds 1\n# EOF\n",
        ("a_seconds", {}, 1.0, None),
        om=True,
    ),
    ok(
        "om-types",
        b"# TYPE a gaugehistogram\n# TYPE b info\n# TYPE c stateset\n# TYPE d unknown\n# TYPE e summary\n"
        b'# TYPE f histogram\na_gcount 1\nb_info{v="1"} 1\nc{c="x"} 1\nc{c="y"} 0\n# EOF\n',
        ("a_gcount", {}, 1.0, None),
        ("b_info", {"v": "1"}, 1.0, None),
        ("c", {"c": "x"}, 1.0, None),
        ("c", {"c": "y"}, 0.0, None),
        om=True,
    ),
    ok(
        "om-metadata-anywhere",
        b'a 1\n# TYPE a gauge\n# HELP a x\nb 2\n# TYPE b counter\na{x="1"} 3\n# EOF\n',
        ("a", {}, 1.0, None),
        ("b", {}, 2.0, None),
        ("a", {"x": "1"}, 3.0, None),
        om=True,
    ),
    ok(
        "om-exemplars",
        b'# TYPE a counter\na_total 1 # {t="x"} 0.5\na_total{b="1"} 1 @S@ # {t="x"} 0.5 @S@\n'
        b'c_total 2 # {} 1\nd_total 3 # {a="b"} NaN\ne_total 4 # {a="b",a="c"} 1\n'
        b'# TYPE g gauge\ng_bucket{le="1"} 5 # {a="b"} 1 1.5\n# EOF\n',
        ("a_total", {}, 1.0, None),
        ("a_total", {"b": "1"}, 1.0, 0),
        ("c_total", {}, 2.0, None),
        ("d_total", {}, 3.0, None),
        ("e_total", {}, 4.0, None),
        ("g_bucket", {"le": "1"}, 5.0, None),
        om=True,
    ),
    ok("om-long-exemplar", b'a_total 1 # {t="' + b"x" * 200 + b'"} 0.5\n# EOF\n', ("a_total", {}, 1.0, None), om=True),
    ok(
        "om-timestamps",
        b"a 1 @S@\nb 1 @S@.5\nc 1 +@S@\nd 1 @S@e0\n# EOF\n",
        ("a", {}, 1.0, 0),
        ("b", {}, 1.0, 500),
        ("c", {}, 1.0, 0),
        ("d", {}, 1.0, 0),
        om=True,
    ),
    ok("om-negative-timestamp", b"a 1 -1.5\n# EOF\n", ("a", {}, 1.0, -1500 - T), om=True, prometheus="unstored"),
    ok(
        "om-escapes",
        b'a{x="q\\"\\\\\\n\\t"} 1\nb{x="a\tb"} 2\nc{x="\\q"} 3\n# EOF\n',
        ("a", {"x": 'q"\\\n\\t'}, 1.0, None),
        ("b", {"x": "a\tb"}, 2.0, None),
        ("c", {"x": "\\q"}, 3.0, None),
        om=True,
    ),
    ok("om-empty-value", b'a{x=""} 1\n# EOF\n', ("a", {}, 1.0, None), om=True),
    ok(
        "om-floats",
        b'a{k="1"} NaN\na{k="2"} +Inf\na{k="3"} -inf\na{k="4"} 1E3\n# EOF\n',
        ("a", {"k": "1"}, NAN, None),
        ("a", {"k": "2"}, INF, None),
        ("a", {"k": "3"}, -INF, None),
        ("a", {"k": "4"}, 1000.0, None),
        om=True,
    ),
    ok(
        "om-history",
        b"a 1 @S@\na 2 @S@.015\nb 3 @S@\na 4 @S@.03\n# EOF\n",
        ("a", {}, 1.0, 0),
        ("a", {}, 2.0, 15),
        ("b", {}, 3.0, 0),
        ("a", {}, 4.0, 30),
        om=True,
    ),
    # -- invalid -----------------------------------------------------------------------------------
    bad("om-no-eof", b"a 1\n", 2, 1, "missing '# EOF'", om=True),
    bad("om-empty-page", b"", 1, 1, "missing '# EOF'", om=True),
    bad("om-data-after-eof", b"a 1\n# EOF\nb 2\n", 3, 1, "unexpected data after '# EOF'", om=True),
    bad("om-blank-after-eof", b"a 1\n# EOF\n\n", 3, 1, "unexpected data after '# EOF'", om=True),
    bad("om-two-eofs", b"a 1\n# EOF\n# EOF\n", 3, 1, "unexpected data after '# EOF'", om=True),
    bad("om-eof-space", b"a 1\n# EOF \n", 2, 6, "unexpected text after '# EOF'", om=True),
    bad("om-eof-cr", b"a 1\n# EOF\r\n", 2, 6, "unexpected text after '# EOF'", om=True),
    bad("om-blank-line", b"a 1\n\nb 2\n# EOF\n", 2, 1, "blank line", om=True),
    bad("om-leading-blank", b"\n# EOF\n", 1, 1, "blank line", om=True),
    bad("om-tab", b"a\t1\n# EOF\n", 1, 2, "expected one space and the value, found '\\t'", om=True),
    bad("om-two-spaces", b"a  1\n# EOF\n", 1, 3, "exactly one space", om=True),
    bad("om-trailing-space", b"a 1 \n# EOF\n", 1, 5, "exactly one space", om=True),
    bad("om-space-after-comma", b'a{x="1", y="2"} 1\n# EOF\n', 1, 9, "whitespace in the label set", om=True),
    bad("om-space-before-brace", b'a{x="1" } 1\n# EOF\n', 1, 8, "whitespace in the label set", om=True),
    bad("om-space-after-brace", b'a{ x="1"} 1\n# EOF\n', 1, 3, "whitespace in the label set", om=True),
    bad("om-space-before-equals", b'a{x ="1"} 1\n# EOF\n', 1, 4, "expected '=' after label name 'x'", om=True),
    bad("om-no-comma", b'a{x="1"y="2"} 1\n# EOF\n', 1, 8, "expected ',' or '}'", om=True),
    bad("om-trailing-comma", b'a{x="1",} 1\n# EOF\n', 1, 9, "trailing comma", om=True),
    bad("om-space-before-labels", b'a {x="1"} 1\n# EOF\n', 1, 3, "invalid value", om=True),
    bad("om-labels-two-spaces", b'a{x="1"}  1\n# EOF\n', 1, 10, "exactly one space", om=True),
    bad("om-labels-no-space", b'a{x="1"}1\n# EOF\n', 1, 9, "expected one space and the value", om=True),
    bad("om-comment", b"# random comment\na 1\n# EOF\n", 1, 3, "unknown comment", om=True),
    bad("om-hash", b"#\n# EOF\n", 1, 2, "expected '# '", om=True),
    bad("om-hash-no-space", b"#HELP a x\n# EOF\n", 1, 2, "expected '# '", om=True),
    bad("om-type-untyped", b"# TYPE a untyped\n# EOF\n", 1, 10, "invalid metric type 'untyped'", om=True),
    bad("om-type-uppercase", b"# TYPE a COUNTER\n# EOF\n", 1, 10, "invalid metric type 'COUNTER'", om=True),
    bad("om-type-missing", b"# TYPE a\n# EOF\n", 1, 9, "expected one space and the TYPE text", om=True),
    bad("om-type-two-spaces", b"# TYPE a  gauge\n# EOF\n", 1, 10, "invalid metric type ' gauge'", om=True),
    bad("om-type-trailing-space", b"# TYPE a gauge \n# EOF\n", 1, 10, "invalid metric type 'gauge '", om=True),
    bad("om-help-missing", b"# HELP a\na 1\n# EOF\n", 1, 9, "expected one space and the HELP text", om=True),
    bad("om-help-tab", b"# HELP a\tx\n# EOF\n", 1, 9, "expected one space and the HELP text", om=True),
    bad("om-help-two-spaces", b"# HELP  a x\n# EOF\n", 1, 8, "expected a metric name after # HELP", om=True),
    bad("om-unit-mismatch", b"# UNIT a_bytes seconds\n# EOF\n", 1, 16, "not a suffix", om=True),
    bad("om-unit-whole-name", b"# UNIT seconds seconds\n# EOF\n", 1, 16, "not a suffix", om=True),
    bad("om-unit-no-underscore", b"# UNIT ab_xseconds seconds\n# EOF\n", 1, 20, "not a suffix", om=True),
    bad("om-unit-tab", b"# UNIT a_bytes\tbytes\n# EOF\n", 1, 15, "expected one space and the UNIT text", om=True),
    bad("om-unit-bad-name", b"# UNIT 1a x\n# EOF\n", 1, 8, "expected a metric name after # UNIT", om=True),
    bad("om-timestamp-nan", b"a 1 NaN\n# EOF\n", 1, 5, "NaN is not a time", om=True),
    bad("om-timestamp-inf", b"a 1 Inf\n# EOF\n", 1, 5, "out of range", om=True),
    # Prometheus converts with int64(seconds * 1000): out of range, the sample is silently dropped.
    bad("om-timestamp-beyond-int64", b"a 1 1e17\nb 2\n# EOF\n", 1, 5, "out of range", om=True, prometheus="accepts"),
    bad("om-timestamp-separator", b"a 1 1_0\n# EOF\n", 1, 5, "invalid timestamp '1_0'", om=True),
    bad("om-timestamp-two-spaces", b"a 1  @S@\n# EOF\n", 1, 5, "exactly one space", om=True),
    bad("om-exemplar-on-gauge", b'a 1 # {t="x"} 0.5\n# EOF\n', 1, 5, "only on _total and _bucket", om=True),
    bad("om-exemplar-after-labels", b'a{x="1"} 1 # {a="b"} 1\n# EOF\n', 1, 12, "only on _total and _bucket", om=True),
    bad(
        "om-exemplar-no-value",
        b'a_total 1 # {t="x"}\n# EOF\n',
        1,
        20,
        "expected one space and the exemplar value",
        om=True,
    ),
    bad("om-exemplar-trailing-comma", b'a_total 1 # {a="b",} 0.5\n# EOF\n', 1, 20, "trailing comma", om=True),
    bad("om-exemplar-two-spaces", b'a_total 1  # {a="b"} 0.5\n# EOF\n', 1, 11, "exactly one space", om=True),
    bad("om-exemplar-no-space", b'a_total 1 #{a="b"} 0.5\n# EOF\n', 1, 11, "invalid timestamp '#{a=\"b\"}'", om=True),
    bad("om-exemplar-trailing-space", b'a_total 1 # {a="b"} 0.5 1 \n# EOF\n', 1, 26, "unexpected text after", om=True),
    bad(
        "om-exemplar-extra",
        b'a_total 1 # {a="b"} 0.5 1 2\n# EOF\n',
        1,
        26,
        "unexpected text after the exemplar timestamp",
        om=True,
    ),
    bad("om-exemplar-bad-value", b'a_total 1 # {a="b"} x\n# EOF\n', 1, 21, "invalid exemplar value 'x'", om=True),
    bad("om-exemplar-timestamp-nan", b'a_total 1 # {a="b"} 1 NaN\n# EOF\n', 1, 23, "NaN is not a time", om=True),
    bad("om-exemplar-bad-utf8", b'a_total 1 # {a="\xff"} 1\n# EOF\n', 1, 17, "not valid UTF-8", om=True),
    bad(
        "om-exemplar-space-in-labels",
        b'a_total 1 # {a="b" } 0.5\n# EOF\n',
        1,
        19,
        "whitespace in the label set",
        om=True,
    ),
    bad("om-crlf", b"a 1\r\n# EOF\r\n", 1, 3, "carriage return", om=True),
    bad("om-leading-space", b" a 1\n# EOF\n", 1, 1, "whitespace at the start of a line", om=True),
    bad("om-newline-in-value", b'a{x="1\n2"} 1\n# EOF\n', 1, 7, "unterminated label value", om=True),
    bad("om-backslash-at-end", b'a{x="1\\"} 1\n# EOF\n', 1, 12, "unterminated label value", om=True),
    bad("om-label-name-colon", b'a{x:y="1"} 1\n# EOF\n', 1, 4, "expected '=' after label name 'x'", om=True),
    bad("om-bad-utf8", b'a{x="\xff"} 1\n# EOF\n', 1, 6, "not valid UTF-8", om=True),
    bad("om-bad-utf8-help", b"# HELP a \xff\n# EOF\n", 1, 10, "HELP text is not valid UTF-8", om=True),
    bad("om-repeated-label-name", b'a{x="1",x="2"} 1\n# EOF\n', 1, 9, "duplicate label name 'x'", om=True),
    bad("om-nul", b"a 1\n\x00# EOF\n", 2, 1, "unexpected '\\x00'", om=True),
    bad("om-duplicate", b"a 1\na 2\n# EOF\n", 2, 1, "duplicate series a", om=True, prometheus="keeps-first"),
    bad(
        "om-duplicate-timestamp",
        b"a 1 @S@\na 2 @S@\n# EOF\n",
        2,
        1,
        "duplicate sample",
        om=True,
        prometheus="keeps-first",
    ),
]

CASES = TEXT + OPENMETRICS
assert len({c.id for c in CASES}) == len(CASES), "case ids must be unique"
