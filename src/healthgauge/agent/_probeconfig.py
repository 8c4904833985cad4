"""The configuration of probe targets, flap damping and cascade-guard groups.

A target's ``kind`` says what is checked: ``"metrics"`` (the default: its ``url``'s /metrics page
is scraped) or a probe kind of :mod:`healthgauge.probes` (``sql``, ``http``, ``tcp``, ``grpc``,
``exec``), whose own keys sit in the same table. Every probe setting is validated here, at start
(``--check`` too), by building the probe once; the agent builds it again when it starts (a probe
holds pools and channels, a configuration holds only words). A probe target without ``ready``
rules is ready while ``probe_success == 1`` (exec targets also warn on ``probe_exec_exit_code == 1``,
a Nagios WARNING).

``damping`` (per target, or under ``[defaults]``) turns flap damping on: ``true`` for the defaults,
or a table of ``penalty``, ``suppress``, ``reuse``, ``half_life``, ``max_suppress``. ``group``
names a cascade-guard group declared as ``[groups.NAME]`` with ``max_unready`` (default 0.5).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from healthgauge import probes
from healthgauge.health._cascade import Guard
from healthgauge.health._damping import Damping

#: Kinds a target may have: the scraped page, and every probe kind.
KINDS = ("metrics", *probes.KINDS)
#: Keys every target may have whatever its kind (beside the agent's shared keys).
KEYS = ("kind", "damping", "group")
DAMPING_KEYS = ("penalty", "suppress", "reuse", "half_life", "max_suppress")
GROUP_KEYS = ("max_unready",)
#: Rules a probe target gets for a role it does not configure.
DEFAULT_RULES: Mapping[str, Mapping[str, tuple[str, ...]]] = {
    kind: {"ready": ("probe_success == 1",), **({"warn": ("probe_exec_exit_code == 1",)} if kind == "exec" else {})}
    for kind in probes.KINDS
}

Duration = Callable[[object, str], float]


@dataclass(frozen=True, slots=True, kw_only=True)
class ProbeSetup:
    """A probe target's kind and settings, as configured (words only: no password, no pool)."""

    kind: str
    settings: str  # the kind's keys as canonical JSON (part of the state file's fingerprint)
    base: str  # the directory relative paths are taken from
    key: str  # where it was configured, for messages
    description: str  # what it probes, without secrets (the target's ``url`` in status output)

    def build(self, timeout: float, duration: Duration) -> probes.Probe:
        return probes.build(self.kind, self._table(duration), timeout)

    def _table(self, duration: Duration) -> probes.Table:
        raw = {"kind": self.kind, **json.loads(self.settings)}
        return probes.Table(raw=raw, key=self.key, base=Path(self.base) if self.base else None, duration=duration)


def kind_of(raw: Mapping[str, Any], key: str) -> str:
    kind = raw.get("kind", "metrics")
    if kind not in KINDS:
        raise probes.SpecError(f'{key}.kind: unknown kind "{kind}" (known: {", ".join(KINDS)})')
    return str(kind)


def probe_keys(kind: str) -> tuple[str, ...]:
    return () if kind == "metrics" else probes.keys(kind)


def setup(raw: Mapping[str, Any], key: str, base: Path | None, timeout: float, duration: Duration) -> ProbeSetup:
    """Validate a probe target's settings by building its probe once; raises ``SpecError``."""
    kind = kind_of(raw, key)
    settings = {name: raw[name] for name in probes.keys(kind) if name in raw}
    table = probes.Table(raw={"kind": kind, **settings}, key=key, base=base, duration=duration)
    probe = probes.build(kind, table, timeout)
    described = getattr(probe, "describe", None)
    return ProbeSetup(
        kind=kind,
        settings=json.dumps(settings, sort_keys=True),
        base=str(base) if base is not None else "",
        key=key,
        description=f"{kind}:{described()}" if callable(described) else kind,
    )


def damping(value: object, key: str, duration: Duration) -> Damping | None:
    """``damping = true`` (the defaults), ``false``, or a table of its settings."""
    if value is None or value is False:
        return None
    if value is True:
        return Damping()
    if not isinstance(value, dict):
        raise probes.SpecError(f"{key}: true, false or a table of {', '.join(DAMPING_KEYS)}, got {value!r}")
    for name in value:
        if name not in DAMPING_KEYS:
            raise probes.SpecError(f'{key}.{name}: unknown key "{name}" (known: {", ".join(DAMPING_KEYS)})')
    numbers: dict[str, float] = {}
    for name in ("penalty", "suppress", "reuse"):
        if name in value:
            number = value[name]
            if isinstance(number, bool) or not isinstance(number, int | float):
                raise probes.SpecError(f"{key}.{name}: a number, got {number!r}")
            numbers[name] = float(number)
    for name in ("half_life", "max_suppress"):
        if name in value:
            numbers[name] = duration(value[name], f"{key}.{name}")
    try:
        return Damping(**numbers)
    except ValueError as exc:
        raise probes.SpecError(f"{key}: {exc}") from None


def groups(value: object, key: str = "groups") -> dict[str, Guard]:
    """``[groups.NAME]`` tables: each a cascade-guard group."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise probes.SpecError(f"{key}: a table of [{key}.NAME] tables, got {value!r}")
    out: dict[str, Guard] = {}
    for name, table in value.items():
        where = f"{key}.{name}"
        if not isinstance(table, dict):
            raise probes.SpecError(f"{where}: a table ([{where}]), got {table!r}")
        for item in table:
            if item not in GROUP_KEYS:
                raise probes.SpecError(f'{where}.{item}: unknown key "{item}" (known: {", ".join(GROUP_KEYS)})')
        share = table.get("max_unready", 0.5)
        if isinstance(share, bool) or not isinstance(share, int | float) or not 0 <= share < 1:
            raise probes.SpecError(f"{where}.max_unready: a share from 0 to below 1 (0.5 is half), got {share!r}")
        out[name] = Guard(max_unready=float(share))
    return out
