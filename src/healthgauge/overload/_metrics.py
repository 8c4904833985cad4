"""The guard's state as Prometheus metrics, read at scrape time (spec §9 "Metrics").

A custom collector on its **own** ``CollectorRegistry`` (never prometheus_client's global one):
the middleware serves it at ``metrics_path``, and a service that already exposes a registry can
``registry.register(OverloadCollector(guard))`` instead. The healthgauge agent scrapes
``healthgauge_overload_load_percent`` (or the weight) and closes the loop to the load balancer.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from healthgauge.overload._guard import OverloadGuard

__all__ = ["OverloadCollector"]

PREFIX = "healthgauge_overload_"


class OverloadCollector(Collector):
    """Gauges (limit, in flight, queue, oldest age, load, weight, loop lag) and counters
    (admissions, sheds by reason and criticality, outcomes, 5xx, bad headers)."""

    def __init__(self, guard: OverloadGuard) -> None:
        self.guard = guard
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self)

    def render(self) -> tuple[bytes, str]:
        """The text exposition of :attr:`registry` and its content type."""
        return generate_latest(self.registry), "text/plain; version=0.0.4; charset=utf-8"

    def collect(self) -> Iterator[Metric]:
        g = self.guard
        now = g.clock()
        core = g.core
        load, limit = g.load_and_limit()

        def gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
            return GaugeMetricFamily(PREFIX + name, doc, value=value)

        yield gauge("limit", "Current in-flight limit L.", float(limit or 0))
        yield gauge("in_flight", "Requests holding a permit (n).", float(core.in_flight))
        yield gauge("queue_length", "Requests waiting in healthgauge's queue.", float(core.queue_length()))
        yield gauge("queue_oldest_age_seconds", "Age of the oldest waiting request.", core.oldest_age(now))
        yield gauge("load_percent", "Load 0-100 as told to the load balancer.", load)
        reported = g.line.reported
        yield gauge("weight_percent", "Last agent-check weight %.", float(100 if reported is None else reported))
        yield gauge("draining", "1 while draining after SIGTERM.", 1.0 if g.draining else 0.0)
        yield gauge("monitor_only", "1 when sheds are counted, not enforced.", 1.0 if g.monitor_only else 0.0)
        if g.probe is not None:
            yield gauge("loop_lag_seconds", "Latest event-loop lag.", g.probe.latest)
        c = g.counters
        yield CounterMetricFamily(PREFIX + "admitted", "Requests admitted.", value=c.admitted)
        yield CounterMetricFamily(PREFIX + "bypassed", "Requests on bypass routes.", value=c.bypassed)
        yield CounterMetricFamily(PREFIX + "server_errors", "Admitted requests answered 5xx.", value=c.server_errors)
        yield CounterMetricFamily(PREFIX + "header_errors", "Malformed healthgauge headers.", value=c.header_errors)
        shed = CounterMetricFamily(PREFIX + "shed", "Requests shed.", labels=("reason", "criticality"))
        for (reason, criticality), count in sorted(c.shed.items()):
            shed.add_metric((reason, criticality), count)
        yield shed
        outcomes = CounterMetricFamily(PREFIX + "completed", "Permits completed.", labels=("outcome",))
        for outcome, count in sorted(c.outcomes.items()):
            outcomes.add_metric((outcome,), count)
        yield outcomes
        would = dict(c.would_shed)
        core_would = getattr(core, "would_reject", None)
        if isinstance(core_would, dict):
            for reason, count in core_would.items():
                would[str(reason)] = would.get(str(reason), 0) + int(count)
        family = CounterMetricFamily(
            PREFIX + "would_shed", "Requests monitor-only mode would have shed.", labels=("reason",)
        )
        for reason, count in sorted(would.items()):
            family.add_metric((reason,), count)
        yield family
