"""The broker's metrics, read from its counters and core at scrape time (spec §7 rule 7).

A custom collector on the broker's own ``CollectorRegistry``: nothing on the request path touches
prometheus_client (a labelled counter's ``inc()`` costs ~1 µs and a lock; a dict bump does not).
Queue length and oldest age per queue are the alerts Spillway ran on (examples/broker/alerts.yml).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from healthgauge.broker._observed import ObservedService

__all__ = ["BrokerCollector", "render"]

PREFIX = "healthgauge_broker_"


class BrokerCollector(Collector):
    def __init__(self, service: ObservedService) -> None:
        self.service = service
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self)

    def collect(self) -> Iterator[Metric]:
        svc = self.service
        now = svc.loop.time()
        c = svc.counters
        stats = svc.core.statistics(now)
        length = GaugeMetricFamily(PREFIX + "queue_length", "Requests waiting in each queue.", labels=("queue",))
        age = GaugeMetricFamily(
            PREFIX + "queue_oldest_age_seconds", "Age of the oldest request in each queue.", labels=("queue",)
        )
        cap = GaugeMetricFamily(PREFIX + "queue_capacity", "Bound on each queue's length.", labels=("queue",))
        for job_class, st in stats.items():
            length.add_metric((job_class.value,), st.length)
            age.add_metric((job_class.value,), st.oldest_age)
            cap.add_metric((job_class.value,), st.capacity)
        yield from (length, age, cap)
        yield _counter("requests", "Requests received, by class.", ("class",), c.requests)
        yield _counter("responses", "Responses sent, by class and status class.", ("class", "code"), c.responses)
        yield _counter("dispatch_attempts", "Offers made to each worker.", ("worker",), c.attempts)
        yield _counter("refusals", "Workers' refusals (503), by worker and reason.", ("worker", "reason"), c.refusals)
        yield _counter("rejections", "The broker's own 503/504 answers, by reason.", ("reason",), c.rejections)
        yield _counter("worker_errors", "Failed exchanges, by worker and kind.", ("worker", "kind"), c.worker_errors)
        yield _counter("affinity", "Keyed answers: from the key's home worker, a recent one, or neither.", ("result",),
                       c.affinity)  # fmt: skip
        yield _counter("cancelled", "Requests whose client went away, by where they were.", ("where",), c.cancelled)
        load = GaugeMetricFamily(PREFIX + "worker_load", "Each worker's load 0-100, as learned.", labels=("worker",))
        inflight = GaugeMetricFamily(PREFIX + "worker_inflight", "This broker's requests at each worker.",
                                     labels=("worker",))  # fmt: skip
        up = GaugeMetricFamily(PREFIX + "worker_up", "1 while a worker is taking requests.", labels=("worker",))
        for view in svc.registry.views(now=now):
            name = str(view.worker)
            load.add_metric((name,), view.load)
            inflight.add_metric((name,), svc.registry.local(view.worker))
            up.add_metric((name,), 0.0 if view.draining else 1.0)
        yield from (load, inflight, up)
        yield GaugeMetricFamily(PREFIX + "draining", "1 once SIGTERM started the drain.", value=float(svc.draining))


def _counter(name: str, doc: str, labels: tuple[str, ...], values: Mapping[Any, int]) -> CounterMetricFamily:
    family = CounterMetricFamily(PREFIX + name, doc, labels=labels)
    for key, count in sorted(values.items(), key=lambda kv: str(kv[0])):
        family.add_metric(key if isinstance(key, tuple) else (str(key),), count)
    return family


def render(service: ObservedService) -> tuple[bytes, str]:
    """The text exposition of ``service``'s metrics and its content type."""
    collector = service.collector
    if not isinstance(collector, BrokerCollector):
        collector = service.collector = BrokerCollector(service)
    return generate_latest(collector.registry), "text/plain; version=0.0.4; charset=utf-8"
