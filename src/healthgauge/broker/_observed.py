"""What the broker's admin endpoints and metrics read of the running service.

:class:`Counters` is bumped by the service on the hot path; :class:`ObservedService` is the view
``_admin`` and ``_metrics`` take of it, so that neither imports ``_service`` (which starts them).
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import asyncio

    from healthgauge.broker._broker import Broker
    from healthgauge.broker._registry import Registry

__all__ = ["Counters", "ObservedService", "affinity_result"]

# Keys whose last workers are remembered for the affinity metric; past this it starts over.
MAX_RECENT_KEYS = 65536


class Counters:
    """What the metrics read: plain dicts and ints bumped on the hot path (no locks, no labels)."""

    def __init__(self) -> None:
        # defaultdicts: ``counter[key] += 1`` is one step in C.
        self.requests: defaultdict[str, int] = defaultdict(int)  # by class
        self.responses: defaultdict[tuple[str, str], int] = defaultdict(int)  # (class, status class "2xx")
        self.attempts: defaultdict[object, int] = defaultdict(int)  # by worker
        self.refusals: defaultdict[tuple[str, str], int] = defaultdict(int)  # (worker, reason)
        self.rejections: defaultdict[str, int] = defaultdict(int)  # by reason
        self.worker_errors: defaultdict[tuple[str, str], int] = defaultdict(int)  # (worker, kind)
        # home: the key's rendezvous home served it; recent: another worker that served the key
        # lately (it spilled there before: the data is likely there too); miss: neither.
        self.affinity: defaultdict[str, int] = defaultdict(int, {"home": 0, "recent": 0, "miss": 0})
        self.cancelled: defaultdict[str, int] = defaultdict(int)  # client went away, by where the request was


def affinity_result(recent: dict[str, tuple[object, ...]], key: str, home: object, worker: object) -> str:
    """Which of home / recent / miss this answer is, and remember ``worker`` for ``key``."""
    seen = recent.get(key)
    result = "home" if home == worker else "recent" if seen is not None and worker in seen else "miss"
    if seen is None or seen[0] != worker:
        if len(recent) >= MAX_RECENT_KEYS:
            recent.clear()
        recent[key] = (worker, seen[0]) if seen is not None else (worker,)
    return result


class ObservedService(Protocol):
    """The service as ``/metrics``, ``/livez`` and ``/readyz`` see it."""

    collector: object  # the metrics collector, made at the first scrape

    @property
    def loop(self) -> asyncio.AbstractEventLoop: ...
    @property
    def counters(self) -> Counters: ...
    @property
    def core(self) -> Broker: ...
    @property
    def registry(self) -> Registry: ...
    @property
    def draining(self) -> bool: ...
    def ready(self) -> bool: ...
