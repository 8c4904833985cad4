"""The state file: the operator's admin state and each target's judged state, kept across restarts.

Why: an agent that forgets ``ctl drain`` on restart sends traffic to a server under maintenance,
and one that starts every target "not ready" takes every server behind HAProxy DOWN until ``rise``
checks pass (consumers.md §3.3: "on restart send a complete state first"). With ``state_file``
under ``[agent]`` a restart is not an outage.

What is restored at start (:func:`restore`, pure: ``now`` is an argument):

- **admin state** (ready / drain / maint): always, for every target still configured. It is the
  operator's word, not evidence, so it does not go stale.
- **judged state** (live, ready, warn, weight, maxconn, reason, conditions, hysteresis counters):
  only when the target's configuration is unchanged (:func:`fingerprint`) and the file is fresh
  for that target: confirmed within ``fall × interval`` of it. A running agent needs ``fall``
  failed checks, one per interval, before it stops calling a ready target ready, so a state this
  young is no staler than what the running agent could have been answering. Otherwise the target
  starts as it does without a file: live and not ready (fail closed).
- **nothing** from a file that cannot be read or parsed: it is reported, moved aside to
  ``<path>.corrupt`` (nothing is lost) and every target starts fresh.

When the file was confirmed: the agent rewrites it (atomically: a temporary file, fsync, rename)
whenever an admin state or a judged state changes: at once for an admin change (``ctl`` returns
after the file holds it) and for a target that becomes or stops being live or ready, at most once
per ``MIN_GAP`` for the rest (weights, reasons); while nothing changes it touches the file's
modification time every ``HEARTBEAT`` (both in :mod:`._statewriter`, the I/O half). The newer of
the file's ``saved_at`` and its modification time is when its states were last known to be current.

The format is JSON, ``{"version": 1, "saved_at": <unix seconds>, "targets": {<name>: {...}}}``,
written with mode 0600.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from healthgauge.agent._config import Rule, TargetConfig
from healthgauge.health._state import Admin, Condition, Role, TargetState

VERSION = 1
#: Clock tolerance, in seconds: a file confirmed up to this far in the future (a clock step) still
#: counts as just confirmed.
FUTURE_SLACK = 1.0
#: Largest state file read, in bytes: a thousand targets with their conditions take well under
#: 2 MiB; anything past 64 MiB is not a state file.
MAX_BYTES = 64 * 1024 * 1024


class StateFileError(Exception):
    """The state file cannot be read or is not one; ``str()`` says which file, where and why."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Saved:
    """One target's entry in the file."""

    fingerprint: str
    admin: Admin
    state: TargetState


@dataclass(frozen=True, slots=True, kw_only=True)
class SavedFile:
    """A decoded state file: when it was last known current, and its targets."""

    confirmed_at: float
    targets: Mapping[str, Saved]


@dataclass(frozen=True, slots=True, kw_only=True)
class Restored:
    """What :func:`restore` gives the hub: the start state of each restored target, and one line
    per target saying what was restored and why (for the log)."""

    states: Mapping[str, TargetState]
    notes: tuple[str, ...]


# -- pure: fingerprints, encoding, decoding, the restore rules ------------------------------------


def fingerprint(target: TargetConfig) -> str:
    """A hash of every setting that judges the target (its URL, rules, timing, hysteresis,
    limits, TLS): a restored verdict is only trusted when the rules that made it are the ones now
    configured. Request headers are left out: they do not judge, and may hold a token."""
    plain = {f.name: _plain(getattr(target, f.name)) for f in dataclasses.fields(target) if f.name != "headers"}
    text = json.dumps(plain, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _plain(value: object) -> object:
    if isinstance(value, Rule):
        return value.text
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return value.value
    return value


def freshness_bound(target: TargetConfig) -> float:
    """Seconds a saved judged state stays trustworthy: ``fall × interval`` (see the module doc)."""
    return target.policy.fall * target.interval


def encode(states: Iterable[TargetState], fingerprints: Mapping[str, str], now: float) -> bytes:
    """The file's bytes for ``states`` at wall time ``now``."""
    targets = {s.name: _encode_state(s, fingerprints[s.name]) for s in states if s.name in fingerprints}
    doc = {"version": VERSION, "saved_at": now, "targets": targets}
    return json.dumps(doc, separators=(",", ":"), allow_nan=True).encode() + b"\n"


def _encode_state(state: TargetState, fingerprint: str) -> dict[str, object]:
    return {
        "fingerprint": fingerprint,
        "admin": state.admin.value,
        "checked_at": state.checked_at,
        "live": state.live,
        "ready": state.ready,
        "warn": state.warn,
        "weight": state.weight,
        "maxconn": state.maxconn,
        "reason": state.reason,
        "error": state.error,
        "duration": state.duration,
        "rises": state.rises,
        "falls": state.falls,
        "live_falls": state.live_falls,
        "checks": state.checks,
        "conditions": [
            {"role": c.role.value, "expr": c.expr, "holds": c.holds, "summary": c.summary, "values": list(c.values)}
            for c in state.conditions
        ],
    }


def decode(data: bytes, *, modified_at: float = 0.0) -> SavedFile:
    """Parse a state file; raise :class:`StateFileError` saying where and what is wrong.

    ``modified_at`` is the file's modification time (the heartbeat): the file counts as confirmed
    at the newer of it and the ``saved_at`` inside.
    """
    try:
        doc = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise StateFileError(f"not UTF-8 text at byte {exc.start}") from None
    except json.JSONDecodeError as exc:
        raise StateFileError(f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    except RecursionError:
        # json's scanner stops at the interpreter's recursion limit (~1000 levels), cheaply; a
        # state file is five levels deep.
        raise StateFileError("JSON nested too deep: not a state file") from None
    if not isinstance(doc, dict):
        raise StateFileError(f"expected a JSON object, got {_excerpt(doc)}")
    if doc.get("version") != VERSION:
        raise StateFileError(f"version: expected {VERSION}, got {_excerpt(doc.get('version'))}")
    saved_at = _number(doc, "saved_at", "saved_at")
    targets = doc.get("targets")
    if not isinstance(targets, dict):
        raise StateFileError(f"targets: expected an object, got {_excerpt(targets)}")
    decoded = {name: _decode_target(name, raw) for name, raw in targets.items()}
    return SavedFile(confirmed_at=max(saved_at, modified_at), targets=decoded)


def _decode_target(name: str, raw: object) -> Saved:
    where = f"targets.{name}"
    if not isinstance(raw, dict):
        raise StateFileError(f"{where}: expected an object, got {_excerpt(raw)}")
    try:
        admin = Admin(raw.get("admin"))
    except ValueError:
        raise StateFileError(
            f"{where}.admin: expected ready, drain or maint, got {_excerpt(raw.get('admin'))}"
        ) from None
    fp = raw.get("fingerprint")
    if not isinstance(fp, str):
        raise StateFileError(f"{where}.fingerprint: expected a string, got {_excerpt(fp)}")
    checked_at = raw.get("checked_at")
    maxconn = raw.get("maxconn")
    if maxconn is not None:
        maxconn = _int(raw, "maxconn", where, 0, 2**31)
    state = TargetState(
        name=name,
        admin=admin,
        live=_bool(raw, "live", where),
        ready=_bool(raw, "ready", where),
        warn=_bool(raw, "warn", where),
        weight=_int(raw, "weight", where, 0, 100),
        maxconn=maxconn,
        reason=_str(raw, "reason", where),
        error=_str(raw, "error", where),
        checked_at=None if checked_at is None else _number(raw, "checked_at", where + ".checked_at"),
        duration=_number(raw, "duration", where + ".duration"),
        rises=_int(raw, "rises", where, 0, 1000),
        falls=_int(raw, "falls", where, 0, 1000),
        live_falls=_int(raw, "live_falls", where, 0, 1000),
        checks=_int(raw, "checks", where, 0, 2**63),
        conditions=_conditions(raw.get("conditions"), where + ".conditions"),
    )
    return Saved(fingerprint=fp, admin=admin, state=state)


def _conditions(raw: object, where: str) -> tuple[Condition, ...]:
    if not isinstance(raw, list):
        raise StateFileError(f"{where}: expected a list, got {_excerpt(raw)}")
    out = []
    for i, item in enumerate(raw):
        at = f"{where}[{i}]"
        if not isinstance(item, dict):
            raise StateFileError(f"{at}: expected an object, got {_excerpt(item)}")
        try:
            role = Role(item.get("role"))
        except ValueError:
            raise StateFileError(f"{at}.role: unknown role {_excerpt(item.get('role'))}") from None
        values = item.get("values")
        if not isinstance(values, list) or not all(_is_number(v) for v in values):
            raise StateFileError(f"{at}.values: expected a list of numbers, got {_excerpt(values)}")
        cond = Condition(
            role=role,
            expr=_str(item, "expr", at),
            holds=_bool(item, "holds", at),
            summary=_str(item, "summary", at),
            values=tuple(float(v) for v in values),
        )
        out.append(cond)
    return tuple(out)


def restore(saved: SavedFile, targets: Iterable[TargetConfig], now: float) -> Restored:
    """The start state of each configured target found in ``saved`` (see the module doc)."""
    states: dict[str, TargetState] = {}
    notes: list[str] = []
    for target in targets:
        entry = saved.targets.get(target.name)
        if entry is None:
            continue
        base = TargetState(name=target.name, admin=entry.admin, overloaded=target.policy.overloaded)
        age = now - saved.confirmed_at
        bound = freshness_bound(target)
        admin_note = f"admin {entry.admin.value}"
        if entry.fingerprint != fingerprint(target):
            states[target.name] = base
            notes.append(f"{target.name}: {admin_note} restored; judged state not restored: its configuration changed")
        elif entry.state.checked_at is None:
            states[target.name] = base
            notes.append(f"{target.name}: {admin_note} restored; it had not been checked yet")
        elif not -FUTURE_SLACK <= age <= bound:
            states[target.name] = base
            why = f"{age:.1f}s old, more than fall × interval = {bound:g}s" if age > 0 else f"{-age:.1f}s in the future"
            notes.append(f"{target.name}: {admin_note} restored; judged state not restored: the file is {why}")
        else:
            states[target.name] = dataclasses.replace(
                entry.state, name=target.name, shutting_down=False, overloaded=target.policy.overloaded
            )
            notes.append(f"{target.name}: {admin_note} and judged state ({states[target.name].level.value}) restored")
    unknown = sorted(set(saved.targets) - {t.name for t in targets})
    if unknown:
        notes.append(f"not configured any more, ignored: {', '.join(unknown)}")
    return Restored(states=states, notes=tuple(notes))


def persisted(state: TargetState) -> tuple[object, ...]:
    """The part of a state whose change rewrites the file (a new check alone does not)."""
    return (
        state.admin,
        state.live,
        state.ready,
        state.warn,
        state.weight,
        state.maxconn,
        state.reason,
        bool(state.error),
        state.rises,
        state.falls,
        state.live_falls,
    )


def _excerpt(value: object) -> str:
    text = json.dumps(value) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _number(raw: Mapping[str, object], key: str, where: str) -> float:
    value = raw.get(key)
    if not _is_number(value) or not math.isfinite(float(value)):  # type: ignore[arg-type]
        raise StateFileError(f"{where}: expected a finite number, got {_excerpt(value)}")
    return float(value)  # type: ignore[arg-type]


def _int(raw: Mapping[str, object], key: str, where: str, low: int, high: int) -> int:
    value = raw.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise StateFileError(f"{where}.{key}: expected a whole number from {low} to {high}, got {_excerpt(value)}")
    return value


def _bool(raw: Mapping[str, object], key: str, where: str) -> bool:
    value = raw.get(key)
    if not isinstance(value, bool):
        raise StateFileError(f"{where}.{key}: expected true or false, got {_excerpt(value)}")
    return value


def _str(raw: Mapping[str, object], key: str, where: str) -> str:
    value = raw.get(key)
    if not isinstance(value, str):
        raise StateFileError(f"{where}.{key}: expected a string, got {_excerpt(value)}")
    return value
