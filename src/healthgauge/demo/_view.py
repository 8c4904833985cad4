"""What the demo shows: one frame of the live view, and the story's lines. Pure: text out.

A frame has the rules (as configured), then per worker its phase and what that phase means, the
agent's verdict (level, reason, each rule's last value) and what each consumer is told right now
(HAProxy's agent-check line, Kubernetes' probes, Envoy, Consul, gRPC), then the last lines of the
story: each phase a worker enters and each change of level the agent makes of it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from healthgauge.agent import TargetConfig, TargetState
from healthgauge.agent.servers._status import consumer_view
from healthgauge.demo._worker import STORY

STORY_LINES = 8
CLEAR = "\x1b[H\x1b[2J"  # cursor home, clear screen: the frame is redrawn in place


@dataclass(slots=True)
class Story:
    """The last :data:`STORY_LINES` events, with when they happened (seconds since the start)."""

    lines: deque[str] = field(default_factory=lambda: deque(maxlen=STORY_LINES))

    def phase(self, at: float, worker: str, phase: str) -> str:
        return self._add(f"{at:6.1f}s  {worker} is {phase}: {STORY[phase]}")

    def change(self, at: float, old: TargetState, new: TargetState) -> str:
        reason = f" ({new.reason})" if new.reason else ""
        return self._add(f"{at:6.1f}s  agent: {new.name} {old.level.value} -> {new.level.value}{reason}")

    def _add(self, line: str) -> str:
        self.lines.append(line)
        return line


@dataclass(frozen=True, slots=True, kw_only=True)
class Header:
    """What does not change while the demo runs: where to look and how to drive it."""

    status_url: str
    ctl: str  # the command line of `healthgauge ctl`, as it can be typed (full path)
    admin: str
    first_target: str

    def lines(self) -> list[str]:
        ctl = f"{self.ctl} --admin {self.admin}"
        return [
            "healthgauge demo: two workers, one agent, and what every consumer is told.",
            f"Status page (open it in a browser): {self.status_url}",
            "Stop: Ctrl-C.   Drive it from another terminal:",
            f"  {ctl.replace(' --admin', f' drain {self.first_target} --admin', 1)}",
            f"  {ctl.replace(' --admin', f' ready {self.first_target} --admin', 1)}",
            f"  {ctl.replace(' --admin', ' status --admin', 1)}",
        ]


def rules_lines(target: TargetConfig) -> list[str]:
    policy = target.policy
    head = (
        f"Rules, checked every {target.interval * 1000:g}ms (rise {policy.rise}, fall {policy.fall}, "
        f"live_fall {policy.live_fall}):"
    )
    return [head] + [f"  {rule.key.rsplit('.', 1)[-1].split('[')[0]:<8} {rule.text}" for rule in target.rules]


def target_lines(
    state: TargetState, states: Mapping[str, TargetState], phase: str, *, limits_maxconn: bool
) -> list[str]:
    seen = consumer_view(state, any(s.shutting_down for s in states.values()), (), limits_maxconn=limits_maxconn)
    values = "   ".join(_rule(c.role.value, c.holds, c.values) for c in state.conditions) or "not checked yet"
    grpc = "   ".join(f"gRPC {name} {status}" for name, status in seen["grpc"].items())
    envoy = f"{seen['envoy']}{' degraded' if seen['envoy_degraded'] else ''}"
    return [
        f"{state.name}  [{phase}]  {state.level.value.upper()}  weight {state.weight}"
        + (f"  maxconn {state.maxconn}" if state.maxconn is not None else "")
        + (f"  admin {state.admin.value}" if state.admin.value != "ready" else ""),
        f"  why      {state.reason or '-'}",
        f"  rules    {values}",
        f"  HAProxy  {seen['haproxy']}",
        f"  k8s      /livez {seen['livez']}   /readyz {seen['readyz']}",
        f"  Envoy    /health {envoy}   Consul /health?consul {seen['consul']}",
        f"  {grpc}",
    ]


def frame(
    header: Header,
    target: TargetConfig,
    states: Sequence[TargetState],
    phases: Mapping[str, str],
    story: Story,
    *,
    at: float,
) -> str:
    """The whole screen at ``at`` seconds since the start."""
    by_name = {s.name: s for s in states}
    lines = [*header.lines(), "", *rules_lines(target), ""]
    for state in states:
        limits = target.maxconn is not None
        lines += target_lines(state, by_name, phases.get(state.name, "?"), limits_maxconn=limits)
        lines.append("")
    lines.append(f"Story ({at:.0f}s in):")
    lines += [f"  {line}" for line in story.lines] or ["  (starting)"]
    return "\n".join(lines) + "\n"


def _rule(role: str, holds: bool, values: Sequence[float]) -> str:
    """``live holds 0.08``, ``ready FAILS 0``, ``warn FIRES 352``, ``weight 84``: the word is what
    the rule's outcome means for the target, the number its first value."""
    value = f" {values[0]:.4g}" if values else " (no series)"
    if role in ("weight", "maxconn"):
        return f"{role}{value}"
    word = ("FIRES" if holds else "quiet") if role == "warn" else ("holds" if holds else "FAILS")
    return f"{role} {word}{value}"
