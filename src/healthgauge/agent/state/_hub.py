"""The state hub: the one place consumers read target states from and hear changes.

The scrape loops, the admin listener and the shutdown write through the hub, which applies the
state table of :mod:`healthgauge.health._state`; every server answers from :meth:`StateHub.get`
or :meth:`StateHub.states` (cached state, never an evaluation on the request path).

Everything runs on the agent's event loop: the hub is not thread-safe, and subscribers are called
synchronously, right after each change, so they must be quick (queue, set an event, return).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import AsyncIterator, Callable, Collection, Mapping
from dataclasses import dataclass

from healthgauge.health._safeguards import Safeguards
from healthgauge.health._spec import TargetSpec
from healthgauge.health._state import Admin, Policy, TargetState, Verdict, observe, set_admin, shut_down

log = logging.getLogger("healthgauge.agent")

#: ``callback(old, new)``: called synchronously on the agent's event loop right after a target's
#: state changed (``old.name == new.name``); it must return quickly and not raise.
Subscriber = Callable[[TargetState, TargetState], None]


@dataclass(frozen=True, slots=True, kw_only=True)
class HubStatistics:
    targets: int
    subscribers: int
    changes: int
    shutting_down: bool


class StateHub:
    """Current state of every target, in configuration order, with change notification; and each
    target's spec beside it (:meth:`spec`), so a server renders ``(state, spec)`` from one place.

    ``specs`` maps each name to its :class:`TargetSpec`, or to just its :class:`Policy`.
    """

    def __init__(self, specs: Mapping[str, TargetSpec | Policy], safeguards: Safeguards | None = None) -> None:
        self._specs = _as_specs(specs)
        self._policies = {name: spec.policy for name, spec in self._specs.items()}
        self._states = {name: TargetState(name=name, overloaded=p.overloaded) for name, p in self._policies.items()}
        # The states as the state table judged them; what consumers hear (``_states``) differs
        # only where a safeguard (flap damping, the cascade guard) speaks for a target.
        self._judged = dict(self._states)
        self.safeguards = safeguards
        self._ordered: tuple[TargetState, ...] | None = None
        self._subscribers: list[Subscriber] = []
        self._changes = 0
        self._shutting_down = False

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._states)

    @property
    def shutting_down(self) -> bool:
        return self._shutting_down

    def get(self, name: str) -> TargetState | None:
        return self._states.get(name)

    def spec(self, name: str) -> TargetSpec | None:
        """What the configuration says of the target, for its renderers (``None``: no such target)."""
        return self._specs.get(name)

    def states(self) -> tuple[TargetState, ...]:
        """Every target's state, in configuration order (a snapshot: safe to keep)."""
        if self._ordered is None:
            self._ordered = tuple(self._states.values())
        return self._ordered

    def restore(self, state: TargetState) -> TargetState:
        """Start ``state.name`` from a saved state (the agent's state file), before any check."""
        if state.name not in self._states:
            raise KeyError(state.name)
        return self._judge(state)

    def observe(self, name: str, verdict: Verdict) -> TargetState:
        """Apply one check of ``name`` (hysteresis) and publish the new state."""
        judged = observe(self._judged[name], verdict, self._policies[name])
        if self.safeguards is not None:
            self.safeguards.checked(judged, verdict.at)
        # A check always moves the state (checked_at, checks): no need to compare it first.
        return self._judge(judged, checked=True)

    def set_admin(self, name: str, admin: Admin) -> TargetState:
        """The operator's admin state for ``name``; raises KeyError for an unknown target."""
        return self._judge(set_admin(self._judged[name], admin))

    def shut_down(self) -> None:
        """Every target reports draining from now until the agent exits."""
        self._shutting_down = True
        for name in self.names:
            self._judge(shut_down(self._judged[name]))

    def _judge(self, judged: TargetState, *, checked: bool = False) -> TargetState:
        """Keep ``judged`` and publish what consumers hear: itself, or what the safeguards make
        of it (and of the rest of its group, whose guard decision it may move)."""
        self._judged[judged.name] = judged
        if self.safeguards is None:
            return self._publish(judged, changed=checked)
        for state in self.safeguards.publish(self._judged, judged.name):
            old = self._states[state.name]
            self._publish(state, changed=checked and state.name == judged.name)
            if old.safeguard != state.safeguard:
                _log_safeguard(old, state)
        return self._states[judged.name]

    def reconfigure(self, specs: Mapping[str, TargetSpec | Policy], *, fresh: Collection[str] = ()) -> None:
        """The targets after a reload (their specs), in their new order: a name kept keeps its
        state (with its new policy); a new name, and each name in ``fresh`` (a target that now points elsewhere),
        starts live and not ready, keeping the operator's admin state; a name left out is gone.
        The caller sets :attr:`safeguards` for the new configuration first (safeguards speak
        from the next check on)."""
        states: dict[str, TargetState] = {}
        judged: dict[str, TargetState] = {}
        started: list[tuple[TargetState, TargetState]] = []
        specs = _as_specs(specs)
        for name, spec in specs.items():
            policy = spec.policy
            old = self._states.get(name)
            if old is not None and name not in fresh:
                states[name] = dataclasses.replace(old, overloaded=policy.overloaded)
                judged[name] = dataclasses.replace(self._judged[name], overloaded=policy.overloaded)
                continue
            new = TargetState(name=name, overloaded=policy.overloaded, shutting_down=self._shutting_down)
            if old is not None:
                new = set_admin(new, self._judged[name].admin)
            states[name] = judged[name] = new
            started.append((old or new, new))
        self._specs = dict(specs)
        self._policies = {name: spec.policy for name, spec in specs.items()}
        self._states, self._judged = states, judged
        self._ordered = None
        for old, new in started:
            self._notify(old, new)

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Call ``callback(old, new)`` after every change; returns the function that unsubscribes.

        Each new check publishes a new state (its ``checked_at`` moves), so a subscriber that
        cares only about, say, readiness compares ``old.serving != new.serving`` itself.
        """
        self._subscribers.append(callback)

        def unsubscribe() -> None:
            if callback in self._subscribers:
                self._subscribers.remove(callback)

        return unsubscribe

    async def watch(self, name: str | None = None) -> AsyncIterator[TargetState]:
        """The current state(s) at once, then each change; a slow reader sees the latest state of
        each target, never a backlog (what gRPC Watch needs)."""
        if name is not None and name not in self._states:
            raise KeyError(name)
        pending: dict[str, TargetState] = {}
        event = asyncio.Event()

        def on_change(_old: TargetState, new: TargetState) -> None:
            if name is None or new.name == name:
                pending[new.name] = new
                event.set()

        unsubscribe = self.subscribe(on_change)
        try:
            for state in self.states() if name is None else (self._states[name],):
                yield state
            while True:
                await event.wait()
                event.clear()
                batch = list(pending.values())
                pending.clear()
                for state in batch:
                    yield state
        finally:
            unsubscribe()

    def statistics(self) -> HubStatistics:
        return HubStatistics(
            targets=len(self._states),
            subscribers=len(self._subscribers),
            changes=self._changes,
            shutting_down=self._shutting_down,
        )

    def _publish(self, new: TargetState, *, changed: bool = False) -> TargetState:
        old = self._states[new.name]
        if not changed and new == old:
            return old
        self._states[new.name] = new
        self._ordered = None
        self._notify(old, new)
        return new

    def _notify(self, old: TargetState, new: TargetState) -> None:
        self._changes += 1
        for callback in tuple(self._subscribers):
            try:
                callback(old, new)
            except Exception:
                log.exception("a state subscriber failed on %s", new.name)


def _log_safeguard(old: TargetState, new: TargetState) -> None:
    """A safeguard starts or stops speaking for a target: operators must hear of it."""
    if new.safeguard:
        log.warning("%s: %s", new.name, new.reason)
    else:
        log.warning("%s: %s released: %s", new.name, old.safeguard, new.reason or "its own state stands")


def _as_specs(specs: Mapping[str, TargetSpec | Policy]) -> dict[str, TargetSpec]:
    return {
        name: spec if isinstance(spec, TargetSpec) else TargetSpec(name=name, policy=spec)
        for name, spec in specs.items()
    }
