"""prometheus_client's parsers as a second, slower reference: where they accept a page of the
conformance table, they must return our samples; where they differ from Prometheus, it is listed."""

from __future__ import annotations

import math

import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families as client_openmetrics
from prometheus_client.parser import text_string_to_metric_families as client_text

from healthgauge.exposition import ParseError, parse
from support.exposition_cases import CASES, Case, fill

# Valid pages (Prometheus stores them) that prometheus_client refuses, and why.
CLIENT_REFUSES = {
    "no-comma": "requires commas between labels",
    "no-comma-no-space": "requires commas between labels",
    "glued-value": "requires a space between name and value",
    "raw-newline-in-value": "reads line by line",
    "raw-newlines-spanning-a-comment": "reads line by line",
    "raw-newline-at-end-of-page": "reads line by line",
    "dunder-label": "refuses label names starting with __",
    "empty-value-removes-the-name": "refuses a repeated label name",
    "comments": "needs the whole page to be UTF-8, comments included",
    "om-metadata": "refuses metadata for a family after another family's",
    "om-types": "refuses metadata for a family after another family's",
    "om-metadata-anywhere": "refuses metadata after samples",
    "om-exemplars": "checks exemplars against the family's TYPE",
    "om-long-exemplar": "enforces the 128-character exemplar label limit Prometheus does not",
    "om-history": "refuses a family that comes back after another",
}
VALID = [c for c in CASES if c.samples is not None]


def client_samples(case: Case, page: str) -> list[tuple[str, tuple[tuple[str, str], ...], float, int | None]]:
    families = client_openmetrics(page) if case.om else client_text(page)
    out = []
    for family in families:
        for s in family.samples:
            ts = s.timestamp
            if ts is not None and not isinstance(ts, float | int):
                ts = float(ts.sec) + ts.nsec / 1e9  # an OpenMetrics Timestamp
            labels = tuple(sorted((k, v) for k, v in s.labels.items() if v != ""))
            out.append((s.name, labels, float(s.value), None if ts is None else round(ts * 1000)))
    return out


def comparable(samples: list[tuple[str, tuple[tuple[str, str], ...], float, int | None]]) -> list[tuple[object, ...]]:
    # NaN equal to NaN; -0 equal to 0 (prometheus_client reads "-0" as 0.0, Prometheus keeps the sign).
    return sorted(((n, ls, "nan" if math.isnan(v) else v + 0.0, t) for n, ls, v, t in samples), key=repr)


@pytest.mark.parametrize("case", [c for c in VALID if c.id not in CLIENT_REFUSES], ids=lambda c: c.id)
def test_prometheus_client_reads_what_we_read(case: Case) -> None:
    page = fill(case.page, 1_795_000_000_000)
    ours = [
        (s.name, tuple(sorted(s.labels.items())), s.value, None if s.timestamp is None else round(s.timestamp * 1000))
        for s in parse(page, content_type=case.content_type())
    ]
    # prometheus_client keeps exemplars beside the samples; the samples themselves must match.
    assert comparable(ours) == comparable(client_samples(case, page.decode()))


@pytest.mark.parametrize("case", [c for c in VALID if c.id in CLIENT_REFUSES], ids=lambda c: c.id)
def test_prometheus_client_refuses_these_valid_pages(case: Case) -> None:
    """A record, kept true: if prometheus_client starts reading one, move it to the test above."""
    parse(fill(case.page, 1_795_000_000_000), content_type=case.content_type())
    with pytest.raises((ValueError, UnicodeDecodeError)):
        client_samples(case, fill(case.page, 1_795_000_000_000).decode("utf-8"))


def test_value_nan_round_trip_sanity() -> None:
    assert math.isnan(parse(b"a NaN\n")[0].value)
    with pytest.raises(ParseError):
        parse(b"a +NaN\n")
