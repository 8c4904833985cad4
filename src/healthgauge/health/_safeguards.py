"""Flap damping and the cascade guard applied together: judged states in, published states out.

The state table (``_state.py``) turns verdicts into each target's own state; these safeguards sit
between that state and what consumers hear, in this order:

1. **flap damping** (``_damping.py``, per target that enables it): while a target is suppressed its
   readiness is held at what consumers heard before, whatever its checks say;
2. **cascade guard** (``_cascade.py``, per group): when more of a group is out of service than
   its ``max_unready`` allows, the healthiest candidates are kept in service.

A state changed by either says so first in its reason (every consumer shows the reason: HAProxy's
``#`` text, /readyz, health+json ``output``), and is marked ``warn`` (degraded): it is in service
on the safeguard's word, not its own. The hysteresis keeps running on the judged states, so a
safeguard never feeds back into the counts.

Pure: time is an argument; the object only remembers penalties and who was kept.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from healthgauge.health._cascade import Decision, Guard, decide
from healthgauge.health._cascade import describe as describe_guard
from healthgauge.health._damping import Damping, Flap, step
from healthgauge.health._damping import describe as describe_flap
from healthgauge.health._state import TargetState

DAMPING = "flap damping"
GUARD = "cascade guard"


@dataclass(frozen=True, slots=True, kw_only=True)
class Group:
    """A cascade-guard group: its setting and its members, in configuration order."""

    guard: Guard
    members: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Statistics:
    """What the agent's metrics and logs read: penalties, suppressed targets, each guard's decision."""

    penalties: Mapping[str, float]
    suppressed: frozenset[str]
    decisions: Mapping[str, Decision]


class Safeguards:
    """The damping state of every damped target and the last decision of every group."""

    def __init__(self, damping: Mapping[str, Damping], groups: Mapping[str, Group]) -> None:
        self._damping = dict(damping)
        self._flaps = {name: Flap() for name in damping}
        self._groups = dict(groups)
        self._group_of = {member: name for name, group in groups.items() for member in group.members}
        self._decisions = {name: Decision(total=len(group.members)) for name, group in groups.items()}
        self._seen_ready: set[str] = set()  # group members judged ready at least once
        self._now = 0.0

    def checked(self, state: TargetState, now: float) -> None:
        """A new check moved ``state`` (as the state table judged it): advance its damping."""
        self._now = max(self._now, now)
        damping = self._damping.get(state.name)
        if damping is not None:
            self._flaps[state.name] = step(self._flaps[state.name], state.ready, now, damping)

    def publish(self, judged: Mapping[str, TargetState], name: str) -> list[TargetState]:
        """What consumers should hear for ``name`` and, when it is in a group, for every member
        of that group (one target's change may move the guard's choice for the others)."""
        group_name = self._group_of.get(name)
        if group_name is None:
            return [self._damped(judged[name])]
        group = self._groups[group_name]
        self._seen_ready.update(m for m in group.members if judged[m].ready)
        states = [self._damped(judged[member]) for member in group.members]
        previous = self._decisions[group_name]
        decision = decide(states, group.guard, previous.kept, self._seen_ready)
        self._decisions[group_name] = decision
        if decision == previous:  # the others' published states stand: only this one moved
            states = [s for s in states if s.name == name]
        if not decision.kept:
            return states
        note = describe_guard(decision, group_name, group.guard)
        return [_kept(s, note) if s.name in decision.kept else s for s in states]

    def _damped(self, state: TargetState) -> TargetState:
        flap = self._flaps.get(state.name)
        if flap is None or not flap.suppressed or flap.shown(state.ready) == state.ready:
            return state
        note = describe_flap(flap, self._now, self._damping[state.name])
        reason = _joined(note, state.reason)
        return dataclasses.replace(state, ready=bool(flap.held), warn=True, reason=reason, safeguard=DAMPING)

    def statistics(self) -> Statistics:
        return Statistics(
            penalties={name: flap.decayed(self._now, self._damping[name]) for name, flap in self._flaps.items()},
            suppressed=frozenset(name for name, flap in self._flaps.items() if flap.suppressed),
            decisions=dict(self._decisions),
        )

    def group_of(self, name: str) -> str | None:
        return self._group_of.get(name)

    @property
    def groups(self) -> Sequence[str]:
        return tuple(self._groups)


def _kept(state: TargetState, note: str) -> TargetState:
    return dataclasses.replace(state, ready=True, warn=True, reason=_joined(note, state.reason), safeguard=GUARD)


def _joined(note: str, reason: str) -> str:
    return f"{note}; {reason}" if reason else note
