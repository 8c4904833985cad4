"""The Prometheus text (0.0.4) and OpenMetrics (1.0) exposition parser: a /metrics page in,
samples out, with Prometheus 2.42 as the judge of what is valid.

- :func:`parse` is strict: the first invalid line raises :class:`ParseError` (line, column, reason,
  the offending text). :func:`parse_lenient` skips bad lines and returns their errors beside the
  samples, for a scraper that must keep going.
- ``names=`` parses only the series of a few metric families and skips every other line without
  tokenising it: a probe that needs two metrics from a 100k-series page reads two metrics.
- :class:`Limits` bounds the page size, the line length and the number of series.

Nothing heavy is imported here (no ``re``, ``typing``, ``dataclasses``): ``healthgauge check``
imports this package on its hot path (DEVELOPERS.md, "The check path").
"""

from __future__ import annotations

from healthgauge.exposition._content import ACCEPT, OPENMETRICS_TEXT, PROMETHEUS_TEXT, is_openmetrics
from healthgauge.exposition._errors import LimitError, ParseError
from healthgauge.exposition._limits import DEFAULT_LIMITS, Limits
from healthgauge.exposition._parse import parse_page
from healthgauge.exposition._sample import Sample
from healthgauge.exposition._select import FAMILY_SUFFIXES

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Collection

__all__ = [
    "ACCEPT",
    "DEFAULT_LIMITS",
    "FAMILY_SUFFIXES",
    "OPENMETRICS_TEXT",
    "PROMETHEUS_TEXT",
    "LimitError",
    "Limits",
    "ParseError",
    "Sample",
    "is_openmetrics",
    "parse",
    "parse_lenient",
]


def parse(
    data: bytes | bytearray | str,
    *,
    content_type: str | None = None,
    names: Collection[str] | None = None,
    dropped: list[ParseError] | None = None,
) -> list[Sample]:
    """Every sample of a page, in page order, or :class:`ParseError` for the first invalid line.

    ``content_type`` is the page's Content-Type header: ``application/openmetrics-text`` selects
    OpenMetrics, anything else (or None) the Prometheus text format, as Prometheus decides.

    ``names`` selects metric families: a name stands for itself and its suffixed series
    (:data:`FAMILY_SUFFIXES`: a histogram ``rpc_seconds`` selects ``rpc_seconds_bucket``,
    ``_sum`` and ``_count``). Other lines are skipped unread, so they are not validated either.

    A series repeated in the page (same labels, and the same timestamp or none), or an earlier
    timestamp after a later one for the same series, is not an error: as Prometheus 2.42 does,
    the first sample is kept and the others dropped. Give a list as ``dropped`` to be told: one
    :class:`ParseError` per dropped sample (its line, and the line of the one kept), so that a
    caller can count and report them. Increasing timestamps for one series are a history.
    Limits are :data:`DEFAULT_LIMITS`; exceeding one raises :class:`LimitError`.
    """
    samples, _ = parse_page(data, content_type, names, DEFAULT_LIMITS, lenient=False, dropped=dropped)
    return samples


def parse_lenient(
    data: bytes | bytearray | str,
    *,
    content_type: str | None = None,
    names: Collection[str] | None = None,
    limits: Limits = DEFAULT_LIMITS,
    dropped: list[ParseError] | None = None,
) -> tuple[list[Sample], list[ParseError]]:
    """The samples of every valid line, and an error for each invalid one, in page order.

    An invalid line is skipped whole; a repeated series keeps its first sample (as Prometheus
    does), the others are dropped and listed in ``dropped`` when it is given, not in the errors.
    Limits: a page over ``max_body_bytes`` yields no samples and one :class:`LimitError`; a line
    over ``max_line_chars`` is skipped with one; at ``max_series`` the parse stops with one.
    At most ``max_errors`` errors are listed, then one error counts the rest.

    For a strict parse with other limits: ``samples, errors = parse_lenient(...)``, then raise
    ``errors[0]`` if there is one.
    """
    return parse_page(data, content_type, names, limits, lenient=True, dropped=dropped)
