"""The agent's own /metrics, through prometheus_client with a registry of its own.

Per-target values are read from the hub and the scrape loops when Prometheus scrapes (a custom
collector), so the scrape path pays nothing for them. Names follow Prometheus conventions:
``healthgauge_target_*`` per target, ``healthgauge_scrapes_total`` and
``healthgauge_scrape_duration_seconds`` for the agent's own scraping.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator, Sequence
from typing import Protocol

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from healthgauge.agent._scrape import BUCKETS, ScrapeStats
from healthgauge.agent.state._hub import StateHub
from healthgauge.health._safeguards import GUARD
from healthgauge.health._state import Admin, Level, TargetState

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class ReloadView(Protocol):
    """The last configuration reload (the agent's ``ReloadStatus``)."""

    @property
    def successful(self) -> bool: ...
    @property
    def success_at(self) -> float: ...


class AgentCollector(Collector):
    def __init__(
        self,
        hub: StateHub,
        stats: Callable[[], Sequence[tuple[str, ScrapeStats]]],
        reloads: ReloadView | None = None,
    ) -> None:
        self.hub = hub
        self.stats = stats
        self.reloads = reloads

    def collect(self) -> Iterator[Metric]:
        yield from self._targets()
        yield from self._scrapes()
        yield from self._safeguards()
        if self.reloads is not None:
            yield from self._reloads(self.reloads)

    def _safeguards(self) -> Iterator[Metric]:
        """Flap damping and the cascade guard: who is held or kept, and each group's figures."""
        safeguards = self.hub.safeguards
        if safeguards is None:
            return
        stats = safeguards.statistics()
        penalty = GaugeMetricFamily(
            "healthgauge_target_flap_penalty", "flap-damping penalty (decayed to the last check)", labels=["target"]
        )
        damped = GaugeMetricFamily(
            "healthgauge_target_damped", "1 while flap damping holds the target's readiness", labels=["target"]
        )
        for name, value in stats.penalties.items():
            penalty.add_metric([name], value)
            damped.add_metric([name], int(name in stats.suppressed))
        guarded = GaugeMetricFamily(
            "healthgauge_target_guarded", "1 while the cascade guard keeps the target in service", labels=["target"]
        )
        active = GaugeMetricFamily(
            "healthgauge_group_guard_active",
            "1 while the group's cascade guard keeps targets in service",
            labels=["group"],
        )
        out = GaugeMetricFamily(
            "healthgauge_group_out", "targets of the group that would be out of service", labels=["group"]
        )
        for group, decision in stats.decisions.items():
            active.add_metric([group], int(decision.active))
            out.add_metric([group], decision.out)
        for state in self.hub.states():
            if safeguards.group_of(state.name) is not None:
                guarded.add_metric([state.name], int(state.safeguard == GUARD))
        yield from (penalty, damped, guarded, active, out)

    def _reloads(self, reloads: ReloadView) -> Iterator[Metric]:
        # Prometheus's own names for the same facts (prometheus_config_last_reload_*).
        yield GaugeMetricFamily(
            "healthgauge_config_last_reload_successful",
            "1 if the last configuration reload succeeded (the agent runs the previous one otherwise)",
            value=int(reloads.successful),
        )
        yield GaugeMetricFamily(
            "healthgauge_config_last_reload_success_timestamp_seconds",
            "when the configuration was last loaded successfully (at start, or by a reload)",
            value=reloads.success_at,
        )

    def _targets(self) -> Iterator[Metric]:
        states = self.hub.states()
        gauges: dict[str, tuple[str, Callable[[TargetState], float]]] = {
            "up": ("1 if the last scrape of the target succeeded", lambda s: 0 if s.error or not s.checks else 1),
            "live": ("1 if the target is live (after hysteresis)", lambda s: int(s.live)),
            "ready": ("1 if the target is ready (after hysteresis)", lambda s: int(s.ready)),
            "serving": ("1 if readiness probes pass: live, ready and not draining", lambda s: int(s.serving)),
            "warn": ("1 if a warn condition holds", lambda s: int(s.warn)),
            "weight": ("traffic weight the target asks for, 0-100", lambda s: s.weight),
            "last_scrape_duration_seconds": ("duration of the last scrape", lambda s: s.duration),
            "last_scrape_error": ("1 if the last scrape failed", lambda s: int(bool(s.error))),
            "last_check_timestamp_seconds": ("when the target was last checked", lambda s: s.checked_at or 0),
        }
        for name, (doc, value) in gauges.items():
            family = GaugeMetricFamily(f"healthgauge_target_{name}", doc, labels=["target"])
            for s in states:
                family.add_metric([s.name], value(s))
            yield family
        maxconn = GaugeMetricFamily("healthgauge_target_maxconn", "maxconn the target asks for", labels=["target"])
        level = GaugeMetricFamily("healthgauge_target_level", "1 for the target's level", labels=["target", "level"])
        admin = GaugeMetricFamily("healthgauge_target_admin", "1 for the admin state", labels=["target", "state"])
        condition = GaugeMetricFamily(
            "healthgauge_target_condition", "1 if the condition holds", labels=["target", "role", "expr"]
        )
        for s in states:
            if s.maxconn is not None:
                maxconn.add_metric([s.name], s.maxconn)
            current = s.level
            for lv in Level:
                level.add_metric([s.name, lv.value], int(lv is current))
            for ad in Admin:
                admin.add_metric([s.name, ad.value], int(ad is s.admin))
            for c in s.conditions:
                condition.add_metric([s.name, c.role.value, c.expr], int(c.holds))
        yield from (maxconn, level, admin, condition)

    def _scrapes(self) -> Iterator[Metric]:
        scrapes = CounterMetricFamily("healthgauge_scrapes", "scrapes by result", labels=["target", "result"])
        size = CounterMetricFamily("healthgauge_scrape_body_bytes", "page bytes read", labels=["target"])
        offloaded = CounterMetricFamily(
            "healthgauge_scrape_offloaded_parses",
            "pages parsed off the event loop (a child process or a worker thread)",
            labels=["target"],
        )
        dropped = CounterMetricFamily(
            "healthgauge_scrape_dropped_samples",
            "samples of a series repeated in a page, dropped as Prometheus drops them (the first is kept)",
            labels=["target"],
        )
        counts = [0] * len(BUCKETS)
        total = 0
        duration_sum = 0.0
        for name, st in self.stats():
            scrapes.add_metric([name, "ok"], st.ok)
            scrapes.add_metric([name, "error"], st.failed)
            size.add_metric([name], st.bytes)
            offloaded.add_metric([name], st.offloaded)
            dropped.add_metric([name], st.dropped)
            counts = [a + b for a, b in zip(counts, st.buckets, strict=True)]
            total += st.ok + st.failed
            duration_sum += st.duration_sum
        cumulative, running = [], 0
        for bound, count in zip(BUCKETS, counts, strict=True):
            running += count
            cumulative.append((repr(bound), running))
        cumulative.append(("+Inf", total))
        histogram = HistogramMetricFamily(
            "healthgauge_scrape_duration_seconds",
            "duration of scrapes, every target",
            buckets=cumulative,
            sum_value=duration_sum,
        )
        yield from (scrapes, size, offloaded, dropped, histogram)


class AgentMetrics:
    """The agent's registry; :meth:`render` builds the page off the event loop."""

    def __init__(
        self,
        hub: StateHub,
        stats: Callable[[], Sequence[tuple[str, ScrapeStats]]],
        *,
        reloads: ReloadView | None = None,
    ) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(AgentCollector(hub, stats, reloads))

    def text(self) -> bytes:
        return generate_latest(self.registry)

    async def render(self) -> tuple[bytes, str]:
        # A thousand targets make a page of tens of thousands of lines: build it in a thread so
        # probes keep their latency while Prometheus scrapes the agent. The collector reads only
        # immutable snapshots (hub states are replaced, never mutated).
        return await asyncio.to_thread(self.text), CONTENT_TYPE
