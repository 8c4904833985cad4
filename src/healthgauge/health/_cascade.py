"""The cascade guard: a group of targets never goes out of service all at once.

When one bad rule or a shared dependency's hiccup makes more than ``max_unready`` of a group's
targets not ready at the same time, taking them all out would turn a partial problem into an
outage (Envoy's panic threshold makes the same call on the load balancer's side). The guard keeps
the healthiest of them in service, just enough that at most ``max_unready`` of the group is out:

=========================================  =============================================================
group                                      decision
=========================================  =============================================================
out share at or below ``max_unready``      nothing kept: every target's own state stands
out share above it                         keep ``min_serving - serving`` of the candidates: those kept
                                           last time first, then the healthiest
=========================================  =============================================================

- *out*: not serving for any reason (not ready, dead, drained, shutting down); ``min_serving`` is
  ``total - floor(total * max_unready)``.
- *candidates*: live, not ready, not drained, and seen ready before (``eligible``): the guard
  speaks for targets *going* out of service, never for one that has not been seen healthy since the
  agent started (a restarted agent sends no traffic to an unseen process). The operator's drain and
  a failed liveness check are never overridden.
- *kept last time first*: a target the guard already keeps stays kept while it is still a
  candidate, whatever the others' figures. When a whole group degrades together its members' figures
  cross and recross as their windows fill (the one whose slow queries started later briefly holds
  one more condition, or a higher weight); following them would swap the kept target every few
  probes, and a load balancer drops every session on the one let go (HAProxy's
  ``on-marked-down shutdown-sessions``). A kept target leaves the set by recovering (then nothing
  needs keeping), by dying, by a drain, or when fewer need keeping.
- *healthiest*, for the targets newly kept: more ready conditions holding, then the higher weight
  (a weight rule such as ``clamp(100 - 2000 * avg_over_time(probe_duration_seconds[30s]), 10, 100)``
  ranks by query time), then the name.

Pure: states in, a decision out.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from healthgauge.health._state import Role, TargetState


@dataclass(frozen=True, slots=True, kw_only=True)
class Guard:
    """One group's setting: the share of it (0 to 1) that may be out of service at once."""

    max_unready: float = 0.5

    def __post_init__(self) -> None:
        if not 0.0 <= self.max_unready < 1.0:
            raise ValueError(f"max_unready is a share from 0 to below 1, got {self.max_unready!r}")

    def min_serving(self, total: int) -> int:
        return total - math.floor(total * self.max_unready + 1e-9)


@dataclass(frozen=True, slots=True, kw_only=True)
class Decision:
    """Which targets the guard keeps in service, and the figures behind it (for reasons, metrics)."""

    kept: tuple[str, ...] = ()
    total: int = 0
    out: int = 0
    min_serving: int = 0

    @property
    def active(self) -> bool:
        return bool(self.kept)


def decide(
    states: Sequence[TargetState],
    guard: Guard,
    kept_before: Collection[str] = (),
    eligible: Collection[str] | None = None,
) -> Decision:
    """The guard's decision for one group's current states (as hysteresis and damping left them);
    ``eligible`` names the targets it may keep (``None``: any)."""
    total = len(states)
    serving = sum(1 for s in states if s.serving)
    need = guard.min_serving(total) - serving
    out = total - serving
    if need <= 0:
        return Decision(total=total, out=out, min_serving=guard.min_serving(total))
    candidates = [
        s for s in states if s.live and not s.ready and not s.draining and (eligible is None or s.name in eligible)
    ]
    candidates.sort(key=lambda s: _rank(s, kept_before))
    kept = tuple(s.name for s in candidates[:need])
    return Decision(kept=kept, total=total, out=out, min_serving=guard.min_serving(total))


def _rank(state: TargetState, kept_before: Collection[str]) -> tuple[int, int, int, str]:
    holding = sum(1 for c in state.conditions if c.role is Role.READY and c.holds)
    return (0 if state.name in kept_before else 1, -holding, -state.weight, state.name)


def describe(decision: Decision, group: str, guard: Guard) -> str:
    """The note every consumer's reason carries for a target the guard keeps in service."""
    return (
        f"cascade guard: kept in service, {decision.out} of {decision.total} in group {group} "
        f"would be out (at most {guard.max_unready:.0%} may be)"
    )
