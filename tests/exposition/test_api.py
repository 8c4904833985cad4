"""The public contract others build on: names, signatures, Sample and ParseError shapes."""

import inspect
import math
import pickle

import pytest

from healthgauge.exposition import (
    DEFAULT_LIMITS,
    LimitError,
    Limits,
    ParseError,
    Sample,
    is_openmetrics,
    parse,
    parse_lenient,
)


def test_parse_signature_is_the_contract() -> None:
    params = inspect.signature(parse).parameters
    assert list(params) == ["data", "content_type", "names", "dropped"]
    for name in ("content_type", "names", "dropped"):
        assert params[name].kind is inspect.Parameter.KEYWORD_ONLY
        assert params[name].default is None


def test_sample_fields_and_equality() -> None:
    s = Sample("a", {"x": "1"}, 2.5, 1.5)
    assert (s.name, s.labels, s.value, s.timestamp) == ("a", {"x": "1"}, 2.5, 1.5)
    assert s == ("a", {"x": "1"}, 2.5, 1.5)
    assert Sample("a", {}, 1.0).timestamp is None
    assert repr(s) == "Sample(name='a', labels={'x': '1'}, value=2.5, timestamp=1.5)"
    assert pickle.loads(pickle.dumps(s)) == s
    assert type(pickle.loads(pickle.dumps(s))) is Sample


def test_samples_come_back_in_page_order() -> None:
    page = b'b 1\na{x="1"} 2\n# TYPE c counter\nc_total 3\na{x="2"} 4\n'
    assert [(s.name, dict(s.labels), s.value) for s in parse(page)] == [
        ("b", {}, 1.0),
        ("a", {"x": "1"}, 2.0),
        ("c_total", {}, 3.0),
        ("a", {"x": "2"}, 4.0),
    ]


def test_str_and_bytes_give_the_same_samples() -> None:
    page = 'a{x="hé"} 1 1700000000000\nb NaN\n'
    by_bytes = parse(page.encode())
    by_str = parse(page)
    assert by_bytes[0] == by_str[0] == ("a", {"x": "hé"}, 1.0, 1700000000.0)
    assert math.isnan(by_str[1].value)


def test_parse_error_str_reads_line_column_reason_text() -> None:
    with pytest.raises(ParseError) as info:
        parse(b'# HELP app_state x\n# TYPE app_state gauge\napp_state{a="b"} x1\n')
    err = info.value
    assert (err.line, err.column, err.text) == (3, 18, 'app_state{a="b"} x1')
    assert err.reason.startswith("invalid value 'x1'")
    assert str(err) == f'line 3, column 18: {err.reason}: app_state{{a="b"}} x1'
    assert isinstance(err, ValueError)
    again = pickle.loads(pickle.dumps(err))
    assert (again.line, again.column, again.reason, again.text) == (3, 18, err.reason, err.text)


def test_parse_error_quotes_long_lines_around_the_column() -> None:
    line = "a{" + ",".join(f'l{i}="{i}"' for i in range(100)) + "} x"
    with pytest.raises(ParseError) as info:
        parse(line)
    err = info.value
    assert err.column == len(line)
    assert len(err.text) <= 122
    assert err.text.startswith("…")
    assert err.text.endswith("} x")


def test_limit_error_is_a_parse_error_with_limit_and_unit() -> None:
    limits = Limits(max_body_bytes=10)
    samples, errors = parse_lenient(b"a 1\nb 2\nc 3\n", limits=limits)
    assert samples == []
    [err] = errors
    assert isinstance(err, LimitError)
    assert isinstance(err, ParseError)
    assert (err.name, err.limit, err.unit, err.line) == ("max_body_bytes", 10, "bytes", 0)
    assert str(err) == "page: page of 12 bytes exceeds the limit of 10 bytes"


def test_limit_error_survives_pickling() -> None:
    [err] = parse_lenient(b"a 1\n", limits=Limits(max_body_bytes=2))[1]
    again = pickle.loads(pickle.dumps(err))
    assert type(again) is LimitError
    assert (again.name, again.limit, again.unit, str(again)) == (err.name, err.limit, err.unit, str(err))


def test_default_limits_are_documented_values() -> None:
    assert Limits() == DEFAULT_LIMITS
    assert DEFAULT_LIMITS.max_body_bytes == 32 * 1024 * 1024
    assert DEFAULT_LIMITS.max_line_chars == 64 * 1024
    assert DEFAULT_LIMITS.max_series == 200_000


@pytest.mark.parametrize("bad", [0, -1, 1.5, "10", True])
def test_limits_refuse_non_positive_integers(bad: object) -> None:
    with pytest.raises(ValueError, match="expected a positive integer"):
        Limits(max_series=bad)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("content_type", "expected"),
    [
        (None, False),
        ("", False),
        ("text/plain; version=0.0.4; charset=utf-8", False),
        ("application/openmetrics-text; version=1.0.0; charset=utf-8", True),
        ("Application/OpenMetrics-Text;version=0.0.1", True),
        ("application/openmetrics-text", True),
        ("text/html", False),
        ("garbage;;;", False),
    ],
)
def test_format_follows_the_content_type_as_prometheus_does(content_type: str | None, expected: bool) -> None:
    assert is_openmetrics(content_type) is expected


def test_protobuf_is_refused_not_misread() -> None:
    with pytest.raises(ParseError, match="protobuf"):
        parse(b"\x00\x01", content_type="application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily")


def test_names_must_be_a_collection_of_metric_names() -> None:
    with pytest.raises(TypeError, match="not a single string"):
        parse(b"a 1\n", names="a")
    with pytest.raises(ValueError, match="not a metric name"):
        parse(b"a 1\n", names=["a b"])


def test_data_must_be_bytes_or_str() -> None:
    with pytest.raises(TypeError, match="bytes or str"):
        parse(12)  # type: ignore[arg-type]


def test_prepared_names_are_cached_per_set_and_bounded() -> None:
    from healthgauge.exposition import _select, parse

    page = b"a 1\nb 2\nc_total 3\n"
    names = frozenset({"a", "c"})
    assert [s.name for s in parse(page, names=names)] == ["a", "c_total"]
    assert names in _select._PREPARED
    assert [s.name for s in parse(page, names=frozenset({"b"}))] == ["b"]
    for i in range(_select._PREPARED_MAX + 5):
        parse(page, names=frozenset({f"n{i}"}))
    assert len(_select._PREPARED) <= _select._PREPARED_MAX
    assert [s.name for s in parse(page, names=["a", "b"])] == ["a", "b"]  # not a frozenset: not cached
