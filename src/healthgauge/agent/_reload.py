"""Reloading the configuration of a running agent (SIGHUP, ``healthgauge ctl reload``): what a new
configuration changes, decided before anything is touched.

The new file is validated whole first (:func:`healthgauge.agent.load_config`, the same checks as
at start and as ``--check``); a file that does not pass changes nothing, and the agent keeps
running the configuration it has (Prometheus does the same, and says so in
``prometheus_config_last_reload_successful``). Then, per target, by name:

=============  ==================================================================================
kind           what happens
=============  ==================================================================================
unchanged      nothing: its loop, connection, history, state and hysteresis go on untouched
changed        its loop restarts with the new settings and scrapes at once; it keeps its admin
               state, its judged state and counters (the next checks count under the new rules),
               and its history while its URL and history length are unchanged
moved          its URL (or its probe) changed: it starts as a new target would (live, not
               ready), admin kept
added          a new target: live and not ready, scraped at once
removed        its loop stops, it leaves every endpoint (404, gRPC NOT_FOUND)
=============  ==================================================================================

Listener addresses (``listen``, ``admin``, ``haproxy_listen``, ...) and ``state_file`` are bound
at start: a change to them is reported and applies at the next restart. Pure: no I/O here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

from healthgauge.agent._config import AgentConfig, Config, ConfigError, TargetConfig
from healthgauge.agent.state._statecodec import fingerprint
from healthgauge.health._grpc import service_names

# [agent] keys a reload cannot change (bound at start), with the words used in the log.
BOUND_AT_START = ("listen", "admin", "listeners", "state_file")


@dataclass(frozen=True, slots=True, kw_only=True)
class Plan:
    """Target names by what a reload does to them, in the new configuration's order."""

    unchanged: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    moved: tuple[str, ...] = ()
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    restart_needed: tuple[str, ...] = ()

    def summary(self) -> str:
        parts = [f"{len(getattr(self, k))} {k}" for k in ("unchanged", "changed", "moved", "added", "removed")]
        text = ", ".join(parts)
        if self.restart_needed:
            text += f"; {', '.join(self.restart_needed)} changed: applies at the next restart"
        return text


def same_target(old: TargetConfig, new: TargetConfig) -> bool:
    """Nothing that judges or reaches the target differs (rules, timing, limits, TLS, headers)."""
    return fingerprint(old) == fingerprint(new) and old.headers == new.headers


def plan(old: Config, new: Config) -> Plan:
    """What reloading ``old`` into ``new`` does; raises :class:`ConfigError` when ``new`` cannot be
    applied to a running agent (a target name the gRPC listener cannot carry)."""
    if "grpc_listen" in old.agent.listeners:
        try:
            service_names([t.name for t in new.targets])
        except ValueError as exc:
            raise ConfigError(f"targets: {exc}") from None
    before = {t.name: t for t in old.targets}
    kinds: dict[str, list[str]] = {"unchanged": [], "changed": [], "moved": [], "added": []}
    for target in new.targets:
        previous = before.get(target.name)
        if previous is None:
            kind = "added"
        elif same_target(previous, target):
            kind = "unchanged"
        elif _endpoint(previous) != _endpoint(target):
            kind = "moved"  # another endpoint: what was judged of the old one does not carry over
        else:
            kind = "changed"
        kinds[kind].append(target.name)
    names = {t.name for t in new.targets}
    removed = tuple(t.name for t in old.targets if t.name not in names)
    return Plan(
        **{k: tuple(v) for k, v in kinds.items()},
        removed=removed,
        restart_needed=_bound_changes(old.agent, new.agent),
    )


def applied_agent(old: AgentConfig, new: AgentConfig) -> AgentConfig:
    """The [agent] settings in force after a reload: the new ones, except what is bound at start."""
    return dataclasses.replace(new, **{key: getattr(old, key) for key in BOUND_AT_START})


def keeps_history(old: TargetConfig, new: TargetConfig) -> bool:
    """A changed target's samples stay valid while it is the same endpoint kept as long."""
    return _endpoint(old) == _endpoint(new) and old.history == new.history


def _endpoint(target: TargetConfig) -> tuple[str, object]:
    """What a target looks at: its URL, or its probe's kind and settings."""
    probe = target.probe
    return target.url, None if probe is None else (probe.kind, probe.settings, probe.base)


def _bound_changes(old: AgentConfig, new: AgentConfig) -> tuple[str, ...]:
    return tuple(key for key in BOUND_AT_START if getattr(old, key) != getattr(new, key))


def names_of(plan: Plan, *kinds: str) -> Sequence[str]:
    return [name for kind in kinds for name in getattr(plan, kind)]
