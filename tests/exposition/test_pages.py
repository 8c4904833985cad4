"""healthgauge.testing's page builders: deterministic, exact in size, and parseable as written."""

import math

import pytest

from healthgauge.exposition import Sample, parse
from healthgauge.testing import (
    Exemplar,
    Family,
    format_timestamp,
    format_value,
    realistic_families,
    realistic_page,
    render,
)


@pytest.mark.parametrize("openmetrics", [False, True])
@pytest.mark.parametrize("series", [1, 14, 100, 2_000])
def test_realistic_page_has_exactly_the_series_asked_for(series: int, openmetrics: bool) -> None:
    page = realistic_page(series, seed=7, openmetrics=openmetrics)
    ct = "application/openmetrics-text" if openmetrics else None
    samples = parse(page, content_type=ct)
    assert len(samples) == series
    expected = [s for f in realistic_families(series, seed=7, openmetrics=openmetrics) for s in f.samples]
    assert samples == expected


def test_same_seed_same_page_other_seed_other_page() -> None:
    assert realistic_page(500, seed=1) == realistic_page(500, seed=1)
    assert realistic_page(500, seed=1) != realistic_page(500, seed=2)


def test_realistic_page_mixes_kinds_and_escapes() -> None:
    families = realistic_families(5_000, seed=3)
    assert {f.type for f in families} == {"counter", "gauge", "histogram", "summary"}
    values = [v for f in families for s in f.samples for v in s.labels.values()]
    assert any("\\" in v for v in values)
    assert any('"' in v for v in values)
    assert any("\n" in v for v in values)
    page = render(families)
    for escape in ('\\"', "\\\\", "\\n"):
        assert escape in page


def test_realistic_page_with_timestamps() -> None:
    samples = parse(realistic_page(50, seed=1, timestamp=1_700_000_000.123))
    assert {s.timestamp for s in samples} == {1_700_000_000.123}


def test_render_both_formats() -> None:
    family = Family(
        name="jobs",
        type="counter",
        help='Jobs "done"\\ so far\nreally',
        unit="jobs",
        samples=(Sample("jobs_total", {"q": 'a"b'}, 3.0), Sample("jobs_created", {"q": 'a"b'}, 1.5e9)),
        exemplars={0: Exemplar(labels={"trace_id": "abc"}, value=1.0, timestamp=1_700_000_000.5)},
    )
    assert render([family], openmetrics=True) == (
        '# HELP jobs Jobs \\"done\\"\\\\ so far\\nreally\n'
        "# TYPE jobs counter\n"
        "# UNIT jobs jobs\n"
        'jobs_total{q="a\\"b"} 3 # {trace_id="abc"} 1 1700000000.500\n'
        'jobs_created{q="a\\"b"} 1500000000\n'
        "# EOF\n"
    )
    plain = Family(name="up", type="gauge", help="Is it up?", samples=(Sample("up", {}, 1.0),))
    assert render([plain]) == "# HELP up Is it up?\n# TYPE up gauge\nup 1\n"
    with pytest.raises(ValueError, match="only in OpenMetrics"):
        render([family])
    with pytest.raises(ValueError, match="does not exist"):
        render([Family(name="x", type="info")])


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1.0, "1"),
        (-0.0, "-0"),
        (0.5, "0.5"),
        (1e100, "1e+100"),
        (math.inf, "+Inf"),
        (-math.inf, "-Inf"),
        (math.nan, "NaN"),
    ],
)
def test_format_value(value: float, text: str) -> None:
    assert format_value(value) == text


def test_openmetrics_timestamps_land_on_their_millisecond() -> None:
    # Prometheus stores int64(seconds * 1000): a plain three-decimal spelling can land one
    # millisecond early, so the builder adds a digit where it would.
    for millis in range(1_700_000_000_000, 1_700_000_000_000 + 5_000):
        text = format_timestamp(millis / 1000, openmetrics=True)
        assert int(float(text) * 1000) == millis, text
    assert format_timestamp(1.5) == "1500"
    assert format_timestamp(-1.5, openmetrics=True) == "-1.500"
