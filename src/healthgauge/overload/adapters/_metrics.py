"""The guard's state as Prometheus metrics, read at scrape time (spec §9 "Metrics").

A custom collector that the guard registers, at start, in the **application's** prometheus_client
registry (the default registry unless the guard is given another, or ``registry=False``), so the
service's own ``/metrics`` shows ``healthgauge_overload_*`` beside its metrics. healthgauge ≤ 0.x
served a registry of its own at ``metrics_path`` in front of the app, and so hid the app's own
``/metrics`` (issue #11). The healthgauge agent scrapes ``healthgauge_overload_load_percent`` (or
the weight) and closes the loop to the load balancer.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping

from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from healthgauge.overload._load import weight_for_load
from healthgauge.overload.adapters._counters import GuardView

__all__ = ["CONTENT_TYPE", "OverloadCollector", "register", "render"]

PREFIX = "healthgauge_overload_"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def render(registry: CollectorRegistry | None = None) -> tuple[bytes, str]:
    """The text exposition of ``registry`` (default: prometheus_client's) and its content type."""
    return generate_latest(REGISTRY if registry is None else registry), CONTENT_TYPE


def register(guard: GuardView, registry: CollectorRegistry | None) -> OverloadCollector:
    """Register ``guard``'s collector in ``registry`` (default: prometheus_client's). Raises
    ``ValueError`` naming the clash when its series are already there (a second guard)."""
    target = REGISTRY if registry is None else registry
    collector = OverloadCollector(guard)
    try:
        target.register(collector)
    except ValueError as exc:
        raise ValueError(
            f"healthgauge overload metrics: {exc}; a second guard in this process needs its own registry"
            " (OverloadGuard(registry=CollectorRegistry())) or registry=False"
        ) from None
    collector.registry = target
    return collector


class OverloadCollector(Collector):
    """Gauges (limit, in flight, queue, oldest age, window minimum delay, load, weight, loop lag)
    and counters (admissions, sheds by reason and by criticality, would-be sheds, outcomes, 5xx,
    bad headers), read from the controller's ``statistics()`` and the guard at scrape time."""

    def __init__(self, guard: GuardView) -> None:
        self.guard = guard
        self.registry: CollectorRegistry | None = None  # where register() put it

    def describe(self) -> Iterator[Metric]:
        """The families' names, for the registry's clash check (values are read at scrape time)."""
        return self.collect()

    def collect(self) -> Iterator[Metric]:
        g = self.guard
        st = g.controller.statistics()

        def gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
            return GaugeMetricFamily(PREFIX + name, doc, value=value)

        def counter(name: str, doc: str, label: str, values: Mapping[str, int]) -> CounterMetricFamily:
            family = CounterMetricFamily(PREFIX + name, doc, labels=(label,))
            for key, count in sorted(values.items()):
                family.add_metric((key,), count)
            return family

        yield gauge("limit", "Current in-flight limit L.", st.limit if math.isfinite(st.limit) else 0.0)
        yield gauge("in_flight", "Requests holding a permit (n).", float(st.inflight))
        yield gauge("queue_length", "Requests waiting in healthgauge's queue.", float(st.queued))
        yield gauge("queue_oldest_age_seconds", "Age of the oldest waiting request.", st.oldest_age)
        yield gauge("window_min_delay_seconds", "Minimum queueing delay of the last interval.", st.win_min)
        yield gauge("load_percent", "Load 0-100 as told to the load balancer.", float(st.load))
        yield gauge("overloaded", "1 while the controller reports overload.", float(st.overloaded))
        weight = weight_for_load(st.load, g.reporter.weight_floor)
        yield gauge("weight_percent", "Agent-check weight % the load maps to (before warm-up and hysteresis).", weight)
        yield gauge("draining", "1 while draining after SIGTERM.", float(g.draining))
        yield gauge("monitor_only", "1 when sheds are counted, not enforced.", float(g.monitor_only))
        if g.probe is not None:
            yield gauge("loop_lag_seconds", "Latest event-loop lag.", g.probe.latest)
        yield CounterMetricFamily(PREFIX + "admitted", "Requests granted a permit.", value=st.admitted)
        yield counter("shed", "Requests rejected, by reason.", "reason", st.rejected)
        yield counter(
            "shed_by_criticality", "Requests rejected, by criticality.", "criticality", st.rejected_by_criticality
        )
        would = dict(st.would_reject)
        for reason, count in g.counters.would_shed.items():
            would[reason] = would.get(reason, 0) + count
        yield counter("would_shed", "Requests monitor-only mode would have shed.", "reason", would)
        yield counter("completed", "Permits completed, by outcome.", "outcome", st.completed)
        yield CounterMetricFamily(
            PREFIX + "abandoned", "Requests not run: their client had gone while they waited.", value=st.abandoned
        )
        c = g.counters
        yield CounterMetricFamily(PREFIX + "bypassed", "Requests on bypass routes.", value=c.bypassed)
        if g.count_server_errors:  # only where every admitted request's status is seen: an exact count
            yield CounterMetricFamily(
                PREFIX + "server_errors", "Admitted requests answered 5xx.", value=c.server_errors
            )
        yield CounterMetricFamily(PREFIX + "header_errors", "Malformed healthgauge headers.", value=c.header_errors)
        yield CounterMetricFamily(
            PREFIX + "downstream_overloaded",
            "Handlers that raised DownstreamOverloaded.",
            value=c.downstream_overloaded,
        )
        yield CounterMetricFamily(
            PREFIX + "early_refused",
            "Of the requests shed, those answered before the server's HTTP parser read them.",
            value=c.early_refused,
        )
