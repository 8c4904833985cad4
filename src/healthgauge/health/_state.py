"""Per-target state: the verdict of one check, smoothed by hysteresis, overridden by admin state.

Everything that moves a target's state lives in this one table (the h11 ``_state.py`` habit):

======================  =======================================================================
event                   effect
======================  =======================================================================
``observe(verdict)``    ready: ``rise`` consecutive good checks to become ready, ``fall``
                        consecutive bad ones to stop; live: ``live_fall`` consecutive bad checks
                        to die, one good check to come back. A failed scrape is a bad check for
                        both (fail closed). Warn, weight and maxconn follow the last verdict.
``set_admin(admin)``    the operator's word: ready / drain / maint; it never changes live/ready.
``shut_down()``         the agent is stopping: report drain until it exits (no way back).
======================  =======================================================================

A fresh target is live and not ready: an agent restart must neither restart every process it
watches (liveness) nor send traffic to a process it has not seen healthy (readiness).

The six consumer levels of ``consumers.md`` §10 are derived from the state by :func:`level_of`;
every consumer renderer starts from that level plus the numbers (weight, maxconn) and the reason.

Pure: time is an argument, nothing here reads a clock, sleeps or does I/O.
"""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass

# The operator's admin state is HAProxy's admin word (consumers.md §3.2): one type, defined with the
# agent-check codec.
from healthgauge.agentcheck._codec import Admin as Admin


class Level(enum.Enum):
    """One target collapsed to the six levels of consumers.md §10, best first."""

    HEALTHY = "healthy"
    DEGRADED = "degraded"
    OVERLOADED = "overloaded"
    DRAINING = "draining"
    UNHEALTHY = "unhealthy"
    DEAD = "dead"


class Overloaded(enum.Enum):
    """What an overloaded target (ready, weight 0) tells the one-bit consumers: the policy of
    consumers.md §10. HAProxy always hears ``up ready 0%`` (it can carry the weight).

    - ``WARN``: still ready, with a warning: readiness 200, gRPC SERVING, health+json 200 ``warn``
      (Consul 429). Load balancers that read weights stop sending new work; the rest keep it in.
    - ``FAIL``: out of service until the load passes: readiness 503, gRPC NOT_SERVING, health+json
      503 ``fail``. For consumers that cannot weigh (Kubernetes, Traefik, Caddy) and must stop.
    """

    WARN = "warn"
    FAIL = "fail"


class Role(enum.Enum):
    """What a rule of a target decides."""

    LIVE = "live"
    READY = "ready"
    WARN = "warn"
    WEIGHT = "weight"
    MAXCONN = "maxconn"


@dataclass(frozen=True, slots=True, kw_only=True)
class Condition:
    """One evaluated rule as a consumer may show it.

    ``holds`` is whether the condition holds (for weight/maxconn: whether a number came out);
    ``values`` are the observed sample values (empty when the expression returned nothing).
    """

    role: Role
    expr: str
    holds: bool
    summary: str = ""
    values: tuple[float, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Verdict:
    """What one scrape and evaluation of a target concluded, before hysteresis.

    ``error`` is non-empty when the scrape failed (then ``live`` and ``ready`` are false).
    ``at`` is wall-clock seconds since the epoch (health+json's ``time``); ``duration`` is how
    long the scrape took, in seconds.
    """

    at: float
    live: bool
    ready: bool
    warn: bool = False
    weight: int = 100
    maxconn: int | None = None
    reason: str = ""
    error: str = ""
    duration: float = 0.0
    conditions: tuple[Condition, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Policy:
    """How checks become a state: hysteresis counts, named as HAProxy's (``rise``/``fall`` for
    ready, ``live_fall`` for live), and what an overloaded target answers (:class:`Overloaded`)."""

    rise: int = 2
    fall: int = 3
    live_fall: int = 3
    overloaded: Overloaded = Overloaded.WARN

    def __post_init__(self) -> None:
        for name in ("rise", "fall", "live_fall"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class TargetState:
    """Everything a consumer needs to answer for one target; replaced, never mutated.

    - ``live``/``ready``: after hysteresis; ``warn``, ``weight`` (0-100) and ``maxconn`` (``None``
      when not configured): from the last good verdict.
    - ``admin``: the operator's state; ``shutting_down``: the agent is draining before it exits.
    - ``overloaded``: the target's policy for the overloaded level (from its :class:`Policy`).
    - ``reason``: why the target is at its level, in words a person reads.
    - ``conditions``: every rule's last outcome; ``error``: the last scrape error ("" if the last
      scrape succeeded); ``checked_at``: wall time of the last verdict (``None`` before the first);
      ``duration``: how long that scrape took.
    - ``safeguard``: "" or the safeguard that changed what consumers hear (``"flap damping"``,
      ``"cascade guard"``, see ``_safeguards.py``); its reason then starts with why.
    - ``rises``/``falls``/``live_falls``: the hysteresis counters (consecutive good checks while not
      ready, bad checks while ready, bad checks while live); ``checks``: verdicts observed.
    """

    name: str
    live: bool = True
    ready: bool = False
    warn: bool = False
    weight: int = 0
    maxconn: int | None = None
    admin: Admin = Admin.READY
    shutting_down: bool = False
    overloaded: Overloaded = Overloaded.WARN
    reason: str = "not checked yet"
    conditions: tuple[Condition, ...] = ()
    error: str = ""
    checked_at: float | None = None
    duration: float = 0.0
    rises: int = 0
    falls: int = 0
    live_falls: int = 0
    checks: int = 0
    safeguard: str = ""

    @property
    def draining(self) -> bool:
        """Traffic should leave: the operator drains or maintains, or the agent is stopping."""
        return self.shutting_down or self.admin is not Admin.READY

    @property
    def serving(self) -> bool:
        """Readiness as consumers read it: live, ready and not draining; and, when the policy
        says ``overloaded = "fail"``, not overloaded."""
        if not (self.live and self.ready) or self.draining:
            return False
        return self.weight != 0 or self.overloaded is Overloaded.WARN

    @property
    def level(self) -> Level:
        return level_of(self)


def level_of(state: TargetState) -> Level:
    """The consumers.md §10 level of a state.

    Dead before everything (liveness failed); then unhealthy (not ready); then draining (the
    operator's or the shutdown's); then overloaded (ready but its own metrics ask for no traffic:
    weight 0); degraded (a warn condition holds or the weight is below 100); else healthy.
    """
    if not state.live:
        return Level.DEAD
    if not state.ready:
        return Level.UNHEALTHY
    if state.draining:
        return Level.DRAINING
    if state.weight == 0:
        return Level.OVERLOADED
    if state.warn or state.weight < 100:
        return Level.DEGRADED
    return Level.HEALTHY


def observe(state: TargetState, verdict: Verdict, policy: Policy) -> TargetState:
    """Apply one verdict: the hysteresis half of the table."""
    good_ready = verdict.ready and verdict.live and not verdict.error
    good_live = verdict.live and not verdict.error
    ready, rises, falls = _ready_step(state, good_ready, policy)
    live, live_falls = _live_step(state, good_live, policy)
    scraped = not verdict.error
    # Built field by field rather than with dataclasses.replace: this runs once per scrape of
    # every target, and replace() costs twice as much.
    return TargetState(
        name=state.name,
        live=live,
        ready=ready,
        # A failed scrape keeps the last numbers but is itself a concern while still ready.
        warn=verdict.warn if scraped else True,
        weight=verdict.weight if scraped else state.weight,
        maxconn=verdict.maxconn if scraped else state.maxconn,
        admin=state.admin,
        shutting_down=state.shutting_down,
        overloaded=state.overloaded,
        reason=_reason(verdict, ready=ready, live=live, rises=rises, falls=falls, live_falls=live_falls, policy=policy),
        conditions=verdict.conditions if scraped else state.conditions,
        error=verdict.error,
        checked_at=verdict.at,
        duration=verdict.duration,
        rises=rises,
        falls=falls,
        live_falls=live_falls,
        checks=state.checks + 1,
    )


def set_admin(state: TargetState, admin: Admin) -> TargetState:
    """The operator's word. It does not touch live/ready: a drained target that fails is still
    reported failing, and ``ready`` returns it to exactly what its checks say."""
    return dataclasses.replace(state, admin=admin)


def shut_down(state: TargetState) -> TargetState:
    """The agent is stopping: every consumer sees the target draining until the process exits."""
    return dataclasses.replace(state, shutting_down=True)


def _ready_step(state: TargetState, good: bool, policy: Policy) -> tuple[bool, int, int]:
    """(ready, rises, falls) after one check."""
    if state.ready:
        falls = 0 if good else state.falls + 1
        if falls >= policy.fall:
            return False, 0, 0
        return True, 0, falls
    rises = state.rises + 1 if good else 0
    if rises >= policy.rise:
        return True, 0, 0
    return False, rises, 0


def _live_step(state: TargetState, good: bool, policy: Policy) -> tuple[bool, int]:
    """(live, live_falls) after one check: one good check revives, as Kubernetes' liveness
    successThreshold is always 1."""
    if good:
        return True, 0
    if not state.live:
        return False, 0
    falls = state.live_falls + 1
    if falls >= policy.live_fall:
        return False, 0
    return True, falls


def _reason(
    verdict: Verdict, *, ready: bool, live: bool, rises: int, falls: int, live_falls: int, policy: Policy
) -> str:
    """Why the target stands where it does after this verdict, newest cause first."""
    cause = f"scrape failed: {verdict.error}" if verdict.error else verdict.reason
    if not live:
        return cause
    notes = []
    if live_falls:
        notes.append(f"live check failed {live_falls}/{policy.live_fall}")
    if not ready and rises:
        notes.append(f"rising {rises}/{policy.rise}")
    if ready and falls:
        notes.append(f"failing {falls}/{policy.fall}")
    if not notes:
        return cause
    return f"{', '.join(notes)}: {cause}" if cause else ", ".join(notes)
