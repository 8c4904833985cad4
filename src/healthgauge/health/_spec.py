"""What the consumers of one target need to know of its configuration: a pure per-target spec.

A target's **state** (:class:`~healthgauge.health._state.TargetState`) changes with every check; its
**spec** is fixed by the configuration and read beside it. Renderers take both, ``(state, spec)``:
the agent builds every spec once from its configuration (``Config.specs``) and hands the same
mapping to the hub and to every server, so no renderer learns a per-target setting another way.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from healthgauge.health._state import Policy


@dataclass(frozen=True, slots=True, kw_only=True)
class TargetSpec:
    """One target's consumer-facing configuration.

    - ``policy``: how checks become its state (hysteresis, the overloaded level's answer);
    - ``interval``: seconds between its checks: how long an answer stays fresh (health+json's
      ``Cache-Control: max-age``, whole seconds);
    - ``limits_maxconn``: it has a ``maxconn`` rule, so every agent-check reply names a limit
      (``maxconn:0`` when the rule gave no number, so an earlier limit never lingers).
    """

    name: str
    policy: Policy = field(default_factory=Policy)
    interval: float = 1.0
    limits_maxconn: bool = False

    @property
    def max_age(self) -> int:
        """Whole seconds an answer about this target stays fresh."""
        return int(self.interval)
