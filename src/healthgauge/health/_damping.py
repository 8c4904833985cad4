"""Flap damping: a target whose readiness keeps changing holds its last state until it calms down.

The route-flap-damping scheme of BGP (RFC 2439; Cisco's and Juniper's defaults 1000 / 2000 / 750),
applied to a target's readiness after hysteresis (``rise``/``fall`` already smooth single blips;
damping stops a target that keeps rising and falling from moving traffic back and forth):

====================================  ==================================================================
event                                 effect
====================================  ==================================================================
time passes                           the penalty decays exponentially: halved every ``half_life``
readiness changes                     the penalty grows by ``penalty`` (capped at the ceiling below)
penalty above ``suppress``            suppressed: consumers keep hearing the state they heard before
                                      the change that crossed the threshold, whatever checks say
suppressed, penalty below ``reuse``   released: consumers hear the target's real readiness again
====================================  ==================================================================

The penalty is capped at ``reuse * 2 ** (max_suppress / half_life)`` (RFC 2439's ceiling), so no
target stays suppressed longer than ``max_suppress`` after its last change.

Pure: time is an argument; :func:`step` is the whole table.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True, slots=True, kw_only=True)
class Damping:
    """Damping settings (seconds for times; penalties are unitless, as in BGP)."""

    penalty: float = 1000.0
    suppress: float = 2000.0
    reuse: float = 750.0
    half_life: float = 60.0
    max_suppress: float = 240.0

    def __post_init__(self) -> None:
        if not 0 < self.reuse < self.suppress:
            raise ValueError(f"reuse ({self.reuse:g}) must be above 0 and below suppress ({self.suppress:g})")
        if self.penalty <= 0 or self.half_life <= 0 or self.max_suppress <= 0:
            raise ValueError("penalty, half_life and max_suppress must be positive")

    @property
    def ceiling(self) -> float:
        """The highest penalty: from here it decays to ``reuse`` in exactly ``max_suppress``."""
        return self.reuse * 2 ** (self.max_suppress / self.half_life)


@dataclass(frozen=True, slots=True)
class Flap:
    """One target's damping state: its penalty as of ``at``, the readiness last seen from the
    checks (``seen``), and, while suppressed, the readiness held for consumers (``held``)."""

    penalty: float = 0.0
    at: float = 0.0
    seen: bool | None = None
    held: bool | None = None

    @property
    def suppressed(self) -> bool:
        return self.held is not None

    def decayed(self, now: float, damping: Damping) -> float:
        """The penalty at ``now``."""
        elapsed = max(0.0, now - self.at)
        return self.penalty * math.pow(0.5, elapsed / damping.half_life)

    def shown(self, ready: bool) -> bool:
        """What consumers hear for a target whose checks say ``ready``."""
        return ready if self.held is None else self.held

    def release_in(self, now: float, damping: Damping) -> float:
        """Seconds until the penalty decays below ``reuse`` (0 when it already has)."""
        penalty = self.decayed(now, damping)
        if penalty <= damping.reuse:
            return 0.0
        return damping.half_life * math.log2(penalty / damping.reuse)


def step(flap: Flap, ready: bool, now: float, damping: Damping) -> Flap:
    """The damping state after the checks say ``ready`` at ``now``."""
    penalty = flap.decayed(now, damping)
    held = flap.held
    if flap.seen is not None and ready != flap.seen:
        penalty = min(damping.ceiling, penalty + damping.penalty)
        if held is None and penalty > damping.suppress:
            held = flap.seen  # what consumers heard before this change
    if held is not None and penalty < damping.reuse:
        held = None
    return Flap(penalty=penalty, at=now, seen=ready, held=held)


def describe(flap: Flap, now: float, damping: Damping) -> str:
    """Why a suppressed target's consumers hear what they hear, for its reason."""
    word = "ready" if flap.held else "not ready"
    return (
        f"flap damping: held {word} (penalty {flap.decayed(now, damping):.0f} above reuse "
        f"{damping.reuse:g}, released in {flap.release_in(now, damping):.0f}s)"
    )
