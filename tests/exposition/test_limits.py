"""Limits and the lenient parse: every cap is a clear error, never unbounded memory; a lenient parse
keeps going past bad lines and says what it skipped."""

from __future__ import annotations

import pytest

from healthgauge.exposition import LimitError, Limits, ParseError, parse, parse_lenient

OPENMETRICS = "application/openmetrics-text"


def test_body_limit_in_bytes_and_in_characters() -> None:
    limits = Limits(max_body_bytes=8)
    [err] = parse_lenient(b"a 1\nb 22\n", limits=limits)[1]
    assert isinstance(err, LimitError)
    assert (err.name, err.limit, err.unit, err.line, err.column) == ("max_body_bytes", 8, "bytes", 0, 0)
    assert str(err) == "page: page of 9 bytes exceeds the limit of 8 bytes"
    [err] = parse_lenient("a 1\nb 22\n", limits=limits)[1]
    assert "page of 9 characters" in err.reason
    assert parse_lenient(b"a 1\nb 2\n", limits=limits) == ([("a", {}, 1.0, None), ("b", {}, 2.0, None)], [])


def test_default_body_limit_refuses_a_bigger_page() -> None:
    page = b"#" * (32 * 1024 * 1024 + 1)
    with pytest.raises(LimitError, match="exceeds the limit of 33554432 bytes"):
        parse(page)


def test_line_limit_strict_and_lenient() -> None:
    long_line = 'a{x="' + "y" * 100 + '"} 1'
    page = f"b 1\n{long_line}\nc 3\n"
    limits = Limits(max_line_chars=50)
    samples, errors = parse_lenient(page, limits=limits)
    assert [s.name for s in samples] == ["b", "c"]
    [err] = errors
    assert isinstance(err, LimitError)
    assert (err.name, err.limit, err.unit, err.line, err.column) == ("max_line_chars", 50, "characters", 2, 51)
    assert err.reason == "line of 109 characters exceeds the limit of 50"
    assert len(err.text) <= 122
    with pytest.raises(LimitError):
        parse("a 1\n" + "#" * (64 * 1024 + 1) + "\n")


def test_a_label_value_running_over_lines_is_bounded_too() -> None:
    # The text format lets a label value hold raw newlines; an unterminated one must not read the
    # rest of a big page into one string.
    page = 'a{x="open\n' + "".join(f"filler{i} 1\n" for i in range(1000))
    samples, errors = parse_lenient(page, limits=Limits(max_line_chars=100))
    [err] = errors
    assert isinstance(err, LimitError)
    assert err.name == "max_line_chars"
    assert err.line == 1
    assert len(samples) > 900  # the lines after the bounded span still parse


def test_series_limit_strict_and_lenient() -> None:
    page = "".join(f"s{i} {i}\n" for i in range(10))
    limits = Limits(max_series=4)
    samples, errors = parse_lenient(page, limits=limits)
    assert [s.name for s in samples] == ["s0", "s1", "s2", "s3"]
    [err] = errors
    assert isinstance(err, LimitError)
    assert (err.name, err.limit, err.unit, err.line) == ("max_series", 4, "series", 5)
    assert err.reason == "more than 4 series"
    # Comments, blank lines and bad lines do not count.
    page = "# HELP a x\n\nbad line\n" + "".join(f"s{i} {i}\n" for i in range(4))
    samples, errors = parse_lenient(page, limits=limits)
    assert len(samples) == 4
    assert [e.line for e in errors] == [3]


def test_series_limit_at_default() -> None:
    page = "".join(f"s{i} 1\n" for i in range(200_001))
    with pytest.raises(LimitError, match="more than 200000 series") as info:
        parse(page)
    assert info.value.line == 200_001


def test_lenient_lists_at_most_max_errors_then_counts_the_rest() -> None:
    page = "".join(f"bad{i}\n" for i in range(30)) + "good 1\n"
    samples, errors = parse_lenient(page, limits=Limits(max_errors=5))
    assert samples == [("good", {}, 1.0, None)]
    assert [e.line for e in errors[:5]] == [1, 2, 3, 4, 5]
    assert errors[5].reason == "25 more errors not listed (limit max_errors=5)"
    assert errors[5].line == 6
    assert len(errors) == 6


def test_lenient_keeps_going_and_reports_in_page_order() -> None:
    page = b"ok1 1\nbad{ 2\nok2 2\nok1 3\nworse 1 2 3\nok3 NaN\n"
    dropped: list[ParseError] = []
    samples, errors = parse_lenient(page, dropped=dropped)
    assert [s.name for s in samples] == ["ok1", "ok2", "ok3"]
    assert [(e.line, e.reason) for e in errors] == [
        (2, "expected a label name or '}', found '2'"),
        (5, "unexpected text after the timestamp"),
    ]
    assert [(e.line, e.reason) for e in dropped] == [(4, "duplicate series ok1 dropped (first on line 1)")]


def test_lenient_openmetrics_missing_eof_and_data_after_it() -> None:
    samples, errors = parse_lenient(b"a 1\nb 2\n", content_type=OPENMETRICS)
    assert [s.name for s in samples] == ["a", "b"]
    assert [(e.line, e.reason) for e in errors] == [
        (3, "missing '# EOF' at the end of an OpenMetrics page (truncated?)")
    ]
    samples, errors = parse_lenient(b"a 1\n# EOF\nb 2\n", content_type=OPENMETRICS)
    assert [s.name for s in samples] == ["a"]
    assert [(e.line, e.reason) for e in errors] == [(3, "unexpected data after '# EOF'")]


def test_lenient_content_type_error_is_returned_not_raised() -> None:
    samples, errors = parse_lenient(b"x", content_type="application/vnd.google.protobuf")
    assert samples == []
    [err] = errors
    assert err.line == 0
    assert "protobuf" in err.reason
    assert not isinstance(err, LimitError)


def test_strict_is_the_first_lenient_error() -> None:
    page = b"a 1\nb x\nc{ 1\na 2\n"
    _, errors = parse_lenient(page)
    with pytest.raises(ParseError) as info:
        parse(page)
    assert (info.value.line, info.value.column, info.value.reason) == (
        errors[0].line,
        errors[0].column,
        errors[0].reason,
    )


def test_huge_label_sets_parse_in_both_paths() -> None:
    # Costs stay linear in the line: no per-label copy of the rest of the line, no compiling a
    # dict display of thousands of labels.
    labels = {f"l{i}": str(i) for i in range(4_000)}
    canonical = "a{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "} 1"
    spaced = "a{" + ", ".join(f'{k}="{v}"' for k, v in labels.items()) + " } 2"
    assert parse(canonical)[0].labels == labels
    assert parse(spaced.replace("a{", "b{"))[0].labels == labels


def test_many_bad_selected_lines_report_their_own_line_numbers() -> None:
    page = b"x 1\n" + b"up{ 1\n" * 20_000 + b"up 5\n"
    samples, errors = parse_lenient(page, names=["up"])
    assert samples == [("up", {}, 5.0, None)]
    assert [e.line for e in errors[:3]] == [2, 3, 4]
    assert errors[-1].reason == "19900 more errors not listed (limit max_errors=100)"
    assert errors[-1].line == 102
