"""What the load balancer is told (spec §10.1): load 0–100 → HAProxy agent weight and maxconn.

``load = max(load_delay, load_conc)`` comes from the admission controller (``load()``). This
module turns it into what HAProxy's agent-check reads, with healthgauge's choices:

- weight ``W = clamp(100 − load, W_floor, 100)`` with ``W_floor = 10 %``: overload never turns into
  an accidental DRAIN (a 0 % weight shows as DRAIN in HAProxy);
- a change is reported only when it exceeds 5 points, except a move to 100 or to the floor;
- for ``warmup`` seconds after start the weight ramps linearly from the floor to the live value
  (cold caches, SRE book);
- ``maxconn:L`` carries the current limit, so excess queueing moves into HAProxy's own queue;
- overload is never ``down``: removing a server pushes its load onto its peers. Draining answers
  ``drain`` until the process exits; only the agent can undo its own ``drain`` or ``down``.
"""

from __future__ import annotations

import enum
import math
import time
from collections.abc import Iterable
from dataclasses import dataclass

from healthgauge.agentcheck._codec import Admin
from healthgauge.overload._types import Clock
from healthgauge.overload.limits._limit import require


class AgentState(enum.Enum):
    """Where the reporter stands: serving (``READY``), draining, in maintenance, or failed
    (``DOWN``). The first three are the reply's admin word (:attr:`admin`); ``DOWN`` is the
    operational word and keeps the admin word ``ready``. The words are written by the one codec,
    :mod:`healthgauge.agentcheck` (``overload._responder.full_state_line``)."""

    READY = "ready"
    DRAIN = "drain"
    MAINT = "maint"
    DOWN = "down"

    @property
    def admin(self) -> Admin:
        """The admin word of a reply in this state."""
        return Admin.DRAIN if self is AgentState.DRAIN else Admin.MAINT if self is AgentState.MAINT else Admin.READY


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentReport:
    """One agent-check answer: ``weight`` percent (None while draining or down), ``maxconn``
    (None to leave HAProxy's setting alone), the state and, for ``down``, a reason."""

    weight: int | None
    maxconn: int | None
    state: AgentState
    load: int
    reason: str = ""


def weight_for_load(load: float, floor: int = 10) -> int:
    """``clamp(100 − load, floor, 100)`` as an integer percent."""
    return int(min(100, max(floor, round(100 - load))))


class LoadReporter:
    """Turns the controller's load and limit into agent-check reports, with warm-up and hysteresis.

    ``report(load, limit)`` at each agent-check; ``drain()`` on SIGTERM; ``maintenance()`` only by
    explicit operator command; ``fail(reason)`` for a hard failure (never for overload).
    """

    __slots__ = (
        "_clock",
        "_fail_reason",
        "_reported",
        "_state",
        "hysteresis",
        "started_at",
        "warmup",
        "weight_floor",
    )

    def __init__(
        self,
        *,
        weight_floor: int = 10,
        hysteresis: int = 5,
        warmup: float = 10.0,
        clock: Clock = time.monotonic,
        started_at: float | None = None,
    ) -> None:
        require(1 <= weight_floor <= 100, f"weight_floor must lie in [1, 100] percent, got {weight_floor!r}")
        require(0 <= hysteresis < 100, f"hysteresis must lie in [0, 100) points, got {hysteresis!r}")
        require(warmup >= 0, f"warmup must be ≥ 0 s, got {warmup!r}")
        self.weight_floor = weight_floor
        self.hysteresis = hysteresis
        self.warmup = float(warmup)
        self._clock = clock
        self.started_at = clock() if started_at is None else started_at
        self._reported: int | None = None
        self._state = AgentState.READY
        self._fail_reason = ""

    def drain(self) -> None:
        self._state = AgentState.DRAIN

    def maintenance(self) -> None:
        self._state = AgentState.MAINT

    def fail(self, reason: str) -> None:
        """A hard failure (fatal dependency, corrupted state): ``down #reason``. Never for overload."""
        self._state = AgentState.DOWN
        self._fail_reason = reason

    def ready(self) -> None:
        """Back to serving: the agent itself must undo its ``drain`` or ``down`` (HAProxy rule)."""
        self._state = AgentState.READY
        self._fail_reason = ""

    def report(self, load: int, limit: float | None = None) -> AgentReport:
        """The answer for the current ``load`` (0–100) and in-flight ``limit`` (``maxconn``)."""
        now = self._clock()
        maxconn = None if limit is None or math.isinf(limit) else max(1, int(limit))
        if self._state is not AgentState.READY:
            return AgentReport(weight=None, maxconn=None, state=self._state, load=load, reason=self._fail_reason)
        live = weight_for_load(load, self.weight_floor)
        elapsed = now - self.started_at
        if elapsed < self.warmup:
            ramp = self.weight_floor + (100 - self.weight_floor) * max(0.0, elapsed) / self.warmup
            live = min(live, max(self.weight_floor, int(ramp)))
        weight = self._with_hysteresis(live)
        return AgentReport(weight=weight, maxconn=maxconn, state=AgentState.READY, load=load)

    def _with_hysteresis(self, live: int) -> int:
        last = self._reported
        bound = live in (100, self.weight_floor)
        if last is None or bound or abs(live - last) > self.hysteresis:
            self._reported = live
            return live
        return last


def combine(reports: Iterable[AgentReport]) -> AgentReport:
    """One answer for several worker processes: the sum of their limits and the maximum load
    (spec §10.1, HG); any worker draining, in maintenance or down decides the state."""
    reports = list(reports)
    require(bool(reports), "combine() needs at least one report")
    for state in (AgentState.DOWN, AgentState.MAINT, AgentState.DRAIN):
        for report in reports:
            if report.state is state:
                return report
    weights = [r.weight for r in reports if r.weight is not None]
    maxconns = [r.maxconn for r in reports if r.maxconn is not None]
    return AgentReport(
        weight=min(weights) if weights else None,
        maxconn=sum(maxconns) if maxconns else None,
        state=AgentState.READY,
        load=max(r.load for r in reports),
    )
