"""What only the middleware adapters see of the requests, beside the controller's statistics: read
by the guard (which counts) and by the metrics collector (which exports), so neither imports the
other."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from healthgauge.overload._controller import AdmissionController
from healthgauge.overload._load import LoadReporter
from healthgauge.overload.adapters._looplag import LoopLagProbe

__all__ = ["GuardCounters", "GuardView"]


@dataclass(slots=True)
class GuardCounters:
    """What only the adapter sees, exported as metrics beside the controller's statistics."""

    bypassed: int = 0
    server_errors: int = 0
    header_errors: int = 0
    downstream_overloaded: int = 0
    # Of the controller's rejections, those answered before the HTTP parser (adapters/_early.py).
    early_refused: int = 0
    would_shed: dict[str, int] = field(default_factory=dict)


class GuardView(Protocol):
    """What the metrics read of an ``OverloadGuard`` at scrape time."""

    @property
    def controller(self) -> AdmissionController: ...
    @property
    def counters(self) -> GuardCounters: ...
    @property
    def count_server_errors(self) -> bool: ...
    @property
    def draining(self) -> bool: ...
    @property
    def monitor_only(self) -> bool: ...
    @property
    def probe(self) -> LoopLagProbe | None: ...
    @property
    def reporter(self) -> LoadReporter: ...
