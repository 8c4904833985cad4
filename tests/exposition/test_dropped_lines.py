"""The lines the probe we replace drops silently (../shared/specs/metrics-checks.md, problem 2),
each of which must parse correctly or fail loudly, never vanish: "escaped quotes in label values,
a space after a comma between labels, a trailing comma in a label set, metric names with `:`,
negative or decimal timestamps, OpenMetrics exemplars, leading/trailing whitespace"."""

from __future__ import annotations

import pytest

from healthgauge.exposition import ParseError, parse

OPENMETRICS = "application/openmetrics-text; version=1.0.0"

PARSED = [
    ("escaped quotes", b'app_state{msg="say \\"hi\\""} 1\n', None, {"msg": 'say "hi"'}),
    ("space after comma", b'app_state{a="1", b="2"} 1\n', None, {"a": "1", "b": "2"}),
    ("trailing comma", b'app_state{a="1",} 1\n', None, {"a": "1"}),
    ("name with colons", b"job:app_state:max 1\n", None, {}),
    ("exemplar", b'app_state_total{a="1"} 1 # {trace_id="abc"} 1 1700000000.5\n# EOF\n', OPENMETRICS, {"a": "1"}),
    ("trailing whitespace", b'app_state{a="1"} 1   \n', None, {"a": "1"}),
]

# Prometheus refuses these pages, so a probe must not pass them: it fails, and says why.
REFUSED = [
    ("negative timestamp", b"app_state 1 -1700000000000\n", None, "negative"),
    ("decimal timestamp", b"app_state 1 1700000000000.5\n", None, "integer milliseconds"),
    ("leading whitespace", b"  app_state 1\n", None, "whitespace before the metric name"),
    ("trailing comma in OpenMetrics", b'app_state{a="1",} 1\n# EOF\n', OPENMETRICS, "trailing comma"),
    ("space after comma in OpenMetrics", b'app_state{a="1", b="2"} 1\n# EOF\n', OPENMETRICS, "whitespace"),
]


@pytest.mark.parametrize(("what", "page", "content_type", "labels"), PARSED, ids=[p[0] for p in PARSED])
def test_parsed_correctly(what: str, page: bytes, content_type: str | None, labels: dict[str, str]) -> None:
    [sample] = parse(page, content_type=content_type)
    assert sample.labels == labels
    assert sample.value == 1.0
    # ... and found by name, as a probe asks for it.
    assert parse(page, content_type=content_type, names=[sample.name.removesuffix("_total")]) == [sample]


@pytest.mark.parametrize(("what", "page", "content_type", "words"), REFUSED, ids=[p[0] for p in REFUSED])
def test_refused_loudly(what: str, page: bytes, content_type: str | None, words: str) -> None:
    with pytest.raises(ParseError, match=words) as info:
        parse(page, content_type=content_type)
    assert info.value.line == 1
    assert info.value.text


def test_negative_and_decimal_timestamps_are_fine_in_openmetrics() -> None:
    page = b"app_state 1 -1.5\napp_other 1 1700000000.25\n# EOF\n"
    assert [s.timestamp for s in parse(page, content_type=OPENMETRICS)] == [-1.5, 1700000000.25]
