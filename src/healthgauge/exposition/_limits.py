"""Limits that keep a hostile or broken page from costing unbounded memory or time.

Prometheus itself has no default caps (``body_size_limit``, ``sample_limit`` and the label limits
are all 0, unlimited), which is right for a server sized for its targets and wrong for a probe that
runs next to the service it checks. The defaults are sized from the pages we benchmark: a realistic
100k-series page is about 10 MB and about 100 characters a line.
"""

from __future__ import annotations

# vmagent caps a scrape at 16 MiB by default (`-promscrape.maxScrapeSize`); twice that leaves room
# for the largest kube-state-metrics pages seen in practice while bounding what one page can cost.
DEFAULT_MAX_BODY_BYTES = 32 * 1024 * 1024

# A line is a series (name, labels, value) or metadata. 64 KiB is hundreds of times a realistic
# series line; a longer one is a runaway label value (a stack trace, a whole config) in practice.
DEFAULT_MAX_LINE_CHARS = 64 * 1024

# Twice the 100k-series benchmark page. Each parsed sample costs ~0.3-0.5 KB of Python objects, so
# this bounds a parse at about 100 MB however the body limit is set.
DEFAULT_MAX_SERIES = 200_000

# Lenient parsing lists at most this many errors, then one summary error: a page of garbage must
# not turn into a million exception objects.
DEFAULT_MAX_ERRORS = 100


class Limits:
    """The caps a parse enforces; every one must be a positive integer.

    - ``max_body_bytes``: size of the page (bytes as received; a ``str`` page counts characters);
    - ``max_line_chars``: length of one line, in characters, without its newline;
    - ``max_series``: samples one page may yield (a history with several samples per series counts
      each sample);
    - ``max_errors``: errors :func:`parse_lenient` lists before summarising the rest in one error.
    """

    __slots__ = ("max_body_bytes", "max_errors", "max_line_chars", "max_series")

    def __init__(
        self,
        *,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        max_line_chars: int = DEFAULT_MAX_LINE_CHARS,
        max_series: int = DEFAULT_MAX_SERIES,
        max_errors: int = DEFAULT_MAX_ERRORS,
    ) -> None:
        for name, value in (
            ("max_body_bytes", max_body_bytes),
            ("max_line_chars", max_line_chars),
            ("max_series", max_series),
            ("max_errors", max_errors),
        ):
            if type(value) is not int or value < 1:
                raise ValueError(f"Limits({name}={value!r}): expected a positive integer")
        self.max_body_bytes = max_body_bytes
        self.max_line_chars = max_line_chars
        self.max_series = max_series
        self.max_errors = max_errors

    def __repr__(self) -> str:
        return (
            f"Limits(max_body_bytes={self.max_body_bytes}, max_line_chars={self.max_line_chars}, "
            f"max_series={self.max_series}, max_errors={self.max_errors})"
        )

    def _fields(self) -> tuple[int, int, int, int]:
        return (self.max_body_bytes, self.max_line_chars, self.max_series, self.max_errors)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Limits):
            return NotImplemented
        return self._fields() == other._fields()

    def __hash__(self) -> int:
        return hash(self._fields())


DEFAULT_LIMITS = Limits()
