"""The samples the evaluator reads: a short, bounded history per series, with Prometheus's staleness.

One store serves both callers:

- ``healthgauge check`` builds it from one scrape with ``History.from_scrape(samples, now)``; the
  samples are grouped by metric name and a family is indexed only when an expression reads it.
- The agent keeps one per target and, per scrape, calls exactly one of
  ``add_scrape(samples, now)`` (the scrape succeeded) or ``add_failed_scrape(now)`` (it failed:
  refused, deadline, HTTP error, invalid exposition).

Staleness follows Prometheus's scrape loop (``scrape/scrape.go``): a series that was in the previous
scrape and is missing from this one gets a stale marker at this scrape's time; a failed scrape marks
every series of the previous scrape stale; an instant selector does not see a series whose latest
sample is a stale marker, nor one whose latest sample is older than the 5-minute lookback. Samples
that carry their own timestamp follow ``honor_timestamps: true``: stored at that time, never marked
stale by a later scrape, and dropped when not newer than the series' last sample (Prometheus's
"out of order" / "duplicate sample" rejection; of two identical series in one page the first wins).

Times inside are integer milliseconds, as in Prometheus's TSDB; the API takes seconds.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Mapping
    from typing import Protocol

    class SampleLike(Protocol):
        """What the store reads of a sample (``healthgauge.exposition.Sample`` has these)."""

        @property
        def name(self) -> str: ...
        @property
        def labels(self) -> Mapping[str, str]: ...
        @property
        def value(self) -> float: ...
        @property
        def timestamp(self) -> float | None: ...


Labels = tuple[tuple[str, str], ...]

# Prometheus's staleness marker is a NaN with a reserved bit pattern; here it is this one float
# object, compared by identity (a NaN scraped from a page is an ordinary value, never this object).
STALE = float("nan")

# Prometheus's default lookback delta (--query.lookback-delta): how far back an instant selector
# looks for a series' latest sample.
LOOKBACK_MS = 300_000

# Defaults for a store without rules to size it: 15 minutes of history is a 10-minute range plus
# the lookback; 8192 samples per series is 2 h at a 1 s scrape interval, enough for any ring the
# rules ask for at realistic intervals while bounding a target that floods explicit timestamps.
DEFAULT_RETENTION = 900.0
DEFAULT_MAX_SAMPLES = 8192


def to_ms(seconds: float) -> int:
    """Seconds to Prometheus's integer milliseconds (the API rounds to the millisecond too)."""
    return round(seconds * 1000)


class Series:
    """One series: its sorted label pairs (with ``__name__``), and its samples oldest first."""

    __slots__ = ("labels", "ldict", "stale", "ts", "vs")

    def __init__(self, labels: Labels, ldict: dict[str, str]) -> None:
        self.labels = labels
        self.ldict = ldict
        self.ts: list[int] = []
        self.vs: list[float] = []
        # How many stale markers ``vs`` may hold (0: none, so ranges need not look for them).
        self.stale = 0

    def append_stale(self, t: int) -> None:
        self.ts.append(t)
        self.vs.append(STALE)
        self.stale += 1

    def at(self, ref: int) -> tuple[int, float] | None:
        """The latest sample at or before ``ref`` within the lookback, unless it is stale."""
        ts = self.ts
        i = len(ts) - 1
        if ts[i] > ref:  # only an offset, or a history read in its past, looks behind the latest sample
            from bisect import bisect_right  # here: `check` reads the latest sample only

            i = bisect_right(ts, ref) - 1
        if i < 0 or ts[i] < ref - LOOKBACK_MS:
            return None
        v = self.vs[i]
        if v is STALE:
            return None
        return ts[i], v


def _key(name: str, labels: Mapping[str, str]) -> tuple[Labels, dict[str, str]]:
    # An empty label value means the label is absent (Prometheus drops it when it stores a series).
    ldict = {k: v for k, v in labels.items() if v}
    ldict["__name__"] = name
    return tuple(sorted(ldict.items())), ldict


class History:
    """Bounded per-series sample history for one target.

    ``retention`` (seconds) is how much history is kept behind the newest scrape for range
    selectors: the longest ``Expr.max_range`` of the rules (plus a scrape interval or two of slack).
    Whatever the retention, each series keeps its latest sample while it is within the 5-minute
    lookback, so instant selectors answer as Prometheus's would. ``max_samples`` caps each series
    whatever its timestamps.
    """

    __slots__ = (
        "_by_name",
        "_by_page_key",
        "_pending",
        "_pending_time",
        "_series",
        "_tracked",
        "max_samples",
        "retention_ms",
    )

    def __init__(self, *, retention: float = DEFAULT_RETENTION, max_samples: int = DEFAULT_MAX_SAMPLES) -> None:
        if retention <= 0 or max_samples < 1:
            raise ValueError(f"History needs retention > 0 and max_samples >= 1, got {retention}, {max_samples}")
        self.retention_ms = to_ms(retention)
        self.max_samples = max_samples
        self._series: dict[Labels, Series] = {}
        self._by_name: dict[str, list[Series]] = {}
        self._pending: dict[str, list[SampleLike]] = {}
        self._pending_time = 0
        self._tracked: set[Labels] = set()
        # (name, label items in page order) -> series: a scrape loop meets the same lines again and
        # again, so most samples skip building and sorting their label set.
        self._by_page_key: dict[tuple[str, tuple[tuple[str, str], ...]], Series] = {}

    @classmethod
    def from_scrape(cls, samples: Iterable[SampleLike], now: float) -> History:
        """A store holding one successful scrape taken at ``now`` (seconds), indexed lazily per family.

        This is the ``check`` path: no series is built until an expression selects its name.
        """
        store = cls()
        store._add_pending(samples, to_ms(now))
        return store

    @classmethod
    def from_recording(cls, samples: Iterable[SampleLike], *, default_time: float) -> History:
        """A store holding a recorded history (timestamps may repeat per series, in any order).

        The OpenMetrics form ``promtool tsdb create-blocks-from openmetrics`` accepts: each sample
        keeps its timestamp; one without a timestamp is taken at ``default_time``. Per series the
        first sample for a timestamp wins. Nothing is trimmed or marked stale, as promtool does.
        """
        store = cls(retention=1e12, max_samples=1 << 62)
        default_ms = to_ms(default_time)
        points: dict[Labels, list[tuple[int, float]]] = {}
        for s in samples:
            key, ldict = _key(s.name, s.labels)
            if key not in store._series:
                store._index(Series(key, ldict))
                points[key] = []
            t = default_ms if s.timestamp is None else to_ms(s.timestamp)
            points[key].append((t, s.value))
        for key, pts in points.items():
            pts.sort(key=lambda p: p[0])  # stable: the first sample of a timestamp stays first
            series = store._series[key]
            for t, v in pts:
                if not series.ts or t != series.ts[-1]:
                    series.ts.append(t)
                    series.vs.append(v)
        return store

    def add_scrape(self, samples: Iterable[SampleLike], now: float) -> None:
        """Record one successful scrape taken at ``now`` (seconds): append, mark vanished series stale, trim."""
        self._flush_pending()
        t_now = to_ms(now)
        seen: set[Labels] = set()
        by_page_key = self._by_page_key
        for s in samples:
            page_key = (s.name, tuple(s.labels.items()))
            series = by_page_key.get(page_key)
            if series is None:
                key, ldict = _key(s.name, s.labels)
                series = self._series.get(key)
                if series is None:
                    series = Series(key, ldict)
                    self._index(series)
                if len(by_page_key) > 2 * len(self._series) + 1024:
                    by_page_key.clear()  # label order churn: start over rather than grow
                by_page_key[page_key] = series
            ts = series.ts
            if s.timestamp is None:
                t = t_now
                seen.add(series.labels)
            else:
                t = to_ms(s.timestamp)
            if ts and t <= ts[-1]:
                continue
            ts.append(t)
            series.vs.append(s.value)
        self._mark_stale(self._tracked - seen, t_now)
        self._tracked = seen
        self._trim(t_now)

    def add_failed_scrape(self, now: float) -> None:
        """Record a failed scrape at ``now`` (seconds): every series of the last scrape turns stale."""
        self._flush_pending()
        t_now = to_ms(now)
        self._mark_stale(self._tracked, t_now)
        self._tracked = set()
        self._trim(t_now)

    def series(self, name: str | None) -> list[Series]:
        """The series of one metric name, or of every name when ``name`` is None."""
        if name is None:
            self._flush_pending()
            return list(self._series.values())
        if name in self._pending:
            self._add_samples(self._pending.pop(name))
        return self._by_name.get(name, [])

    def __len__(self) -> int:
        self._flush_pending()
        return len(self._series)

    def __iter__(self) -> Iterator[Series]:
        self._flush_pending()
        return iter(list(self._series.values()))

    def statistics(self) -> dict[str, int]:
        """A snapshot for the agent's own metrics: series and samples held."""
        self._flush_pending()
        return {"series": len(self._series), "samples": sum(len(s.ts) for s in self._series.values())}

    # Internals.

    def _index(self, series: Series) -> None:
        self._series[series.labels] = series
        self._by_name.setdefault(series.ldict["__name__"], []).append(series)

    def _add_pending(self, samples: Iterable[SampleLike], t_now: int) -> None:
        pending = self._pending
        for s in samples:
            group = pending.get(s.name)
            if group is None:
                group = pending[s.name] = []
            group.append(s)
        self._pending_time = t_now

    def _flush_pending(self) -> None:
        for name in list(self._pending):
            self._add_samples(self._pending.pop(name))

    def _add_samples(self, samples: list[SampleLike]) -> None:
        t_now = self._pending_time
        for s in samples:
            key, ldict = _key(s.name, s.labels)
            series = self._series.get(key)
            if series is None:
                series = Series(key, ldict)
                self._index(series)
            t = t_now if s.timestamp is None else to_ms(s.timestamp)
            if series.ts and t <= series.ts[-1]:
                continue
            series.ts.append(t)
            series.vs.append(s.value)
            if s.timestamp is None:
                self._tracked.add(key)

    def _mark_stale(self, keys: Iterable[Labels], t: int) -> None:
        for key in keys:
            series = self._series.get(key)
            if series is not None and series.ts[-1] < t and series.vs[-1] is not STALE:
                series.append_stale(t)

    def _trim(self, t_now: int) -> None:
        from bisect import bisect_left  # here: `check` never trims

        cut = t_now - self.retention_ms
        cap = self.max_samples
        gone = False
        lookback_cut = t_now - LOOKBACK_MS
        for series in self._series.values():
            ts = series.ts
            if ts[0] < cut:
                i = bisect_left(ts, cut)
                if i == len(ts) and ts[-1] >= lookback_cut and series.vs[-1] is not STALE:
                    i -= 1  # the latest sample still answers instant selectors, whatever the retention
                del ts[:i], series.vs[:i]
            if len(ts) > cap:
                del ts[: len(ts) - cap], series.vs[: len(series.vs) - cap]
            if series.stale:
                series.stale = sum(1 for v in series.vs if v is STALE)
            gone = gone or not ts
        if gone:
            for key in [k for k, s in self._series.items() if not s.ts]:
                series = self._series.pop(key)
                self._by_name[series.ldict["__name__"]].remove(series)
            self._by_page_key = {k: s for k, s in self._by_page_key.items() if s.ts}
