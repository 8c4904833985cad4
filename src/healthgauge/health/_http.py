"""HTTP answers from target states: kube-apiserver style ``/livez`` and ``/readyz``, and
``application/health+json`` for Envoy, Consul and people.

Each renderer returns ``(status, headers, body)`` (client_python's ``_bake_output`` shape); the
server only moves those bytes. Pure: no clock, no I/O. The mapping is consumers.md §10:

=========== ============ ============ ================= ==========================
level       /livez       /readyz      /health           headers
=========== ============ ============ ================= ==========================
healthy     200          200          200 pass
degraded    200          200          200 warn (429)    ``x-envoy-degraded``
overloaded  200          200 / 503    200 warn (429)    ``x-envoy-degraded``
                                      / 503 fail
draining    200          503          503 fail          ``x-envoy-immediate-health-check-fail``
unhealthy   200          503          503 fail
dead        503          503          503 fail
=========== ============ ============ ================= ==========================

(429) is the answer with ``?consul``: 429 is the only warning code of Consul's HTTP check (§7.4).
Overloaded answers as degraded under the policy ``overloaded = "warn"`` (the default) and as out
of service (503, ``fail``, no header) under ``overloaded = "fail"`` (§10 leaves it to policy).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Literal

from healthgauge.health._spec import TargetSpec
from healthgauge.health._state import Admin, Condition, Level, Overloaded, Role, TargetState

Response = tuple[int, tuple[tuple[str, str], ...], bytes]
Probe = Literal["livez", "readyz"]

OK = 200
UNAVAILABLE = 503
CONSUL_WARNING = 429

TEXT = (("Content-Type", "text/plain; charset=utf-8"), ("X-Content-Type-Options", "nosniff"))
HEALTH_JSON = "application/health+json"

_PASS_LEVELS = frozenset({Level.HEALTHY})
_WARN_LEVELS = frozenset({Level.DEGRADED, Level.OVERLOADED})


def probe_passes(probe: Probe, state: TargetState) -> bool:
    """Liveness fails only for a dead target (a failing liveness probe restarts it, §6.3);
    readiness carries the single "send me traffic" bit."""
    return state.live if probe == "livez" else state.serving


def probe_reason(probe: Probe, state: TargetState) -> str:
    """Why a probe fails, on one line."""
    if probe == "readyz" and state.live and state.ready and state.draining:
        return "shutting down" if state.shutting_down else f"admin state {state.admin.value}"
    if probe == "readyz" and state.level is Level.OVERLOADED:
        return one_line(f"overloaded: {state.reason}" if state.reason else "overloaded")
    return one_line(state.reason)


def render_probe(
    probe: Probe, states: Sequence[TargetState], *, verbose: bool = False, exclude: Iterable[str] = ()
) -> Response:
    """``/livez`` or ``/readyz`` over all targets, as kube-apiserver answers (consumers.md §6.2).

    Without ``verbose``, success is the body ``ok``; failure always lists every check. Excluded
    names read ``[+]name excluded: ok``; unknown exclusions add a warning and never fail.
    """
    excluded = dict.fromkeys(exclude)
    lines = []
    failed = False
    for state in states:
        if state.name in excluded:
            del excluded[state.name]
            lines.append(f"[+]{state.name} excluded: ok\n")
        elif probe_passes(probe, state):
            lines.append(f"[+]{state.name} ok\n")
        else:
            failed = True
            lines.append(f"[-]{state.name} failed: {probe_reason(probe, state)}\n")
    if excluded:
        names = ",".join(json.dumps(name) for name in excluded)
        lines.append(f"warn: some health checks cannot be excluded: no matches for {names}\n")
    return _probe_answer(probe, lines, failed=failed, verbose=verbose)


def render_probe_one(probe: Probe, state: TargetState, *, verbose: bool = False) -> Response:
    """``/livez/<target>`` or ``/readyz/<target>``: ``ok``, or the failing line and why."""
    if probe_passes(probe, state):
        return _probe_answer(probe, [f"[+]{state.name} ok\n"], failed=False, verbose=verbose)
    return _probe_answer(probe, [f"[-]{state.name} failed: {probe_reason(probe, state)}\n"], failed=True, verbose=True)


def render_not_found(what: str) -> Response:
    return 404, TEXT, f"no such target: {one_line(what)}\n".encode()


def _probe_answer(probe: Probe, lines: list[str], *, failed: bool, verbose: bool) -> Response:
    if failed:
        return UNAVAILABLE, TEXT, "".join([*lines, f"{probe} check failed\n"]).encode()
    if not verbose:
        return OK, TEXT, b"ok"
    return OK, TEXT, "".join([*lines, f"{probe} check passed\n"]).encode()


def health_status(state: TargetState) -> Literal["pass", "warn", "fail"]:
    """pass for healthy; warn for degraded, and for overloaded unless its policy says fail."""
    level = state.level
    if level in _PASS_LEVELS:
        return "pass"
    if level is Level.OVERLOADED and state.overloaded is Overloaded.FAIL:
        return "fail"
    return "warn" if level in _WARN_LEVELS else "fail"


def health_code(state: TargetState, *, consul: bool = False) -> int:
    """The status code of ``/health/<target>``: 200 on pass and warn (429 on warn for Consul), 503
    on fail."""
    status = health_status(state)
    return {"pass": OK, "warn": CONSUL_WARNING if consul else OK, "fail": UNAVAILABLE}[status]


def render_health(
    state: TargetState, spec: TargetSpec | None = None, *, consul: bool = False, max_age: int = 1
) -> Response:
    """``/health/<target>``: health+json (consumers.md §8) with Envoy's headers (§4.2).

    ``Cache-Control: max-age`` is ``spec.max_age`` (the target's interval; ``max_age`` for a caller
    without a spec).

    200 on pass and warn (429 on warn with ``consul``), 503 on fail. ``x-envoy-degraded`` marks
    warn (Envoy reads it only on a 200); a draining target adds
    ``x-envoy-immediate-health-check-fail`` so Envoy ejects it at once instead of after a check.
    """
    status = health_status(state)
    if spec is not None:
        max_age = spec.max_age
    headers = [("Content-Type", HEALTH_JSON), ("Cache-Control", f"max-age={max(0, max_age)}")]
    if status == "warn":
        headers.append(("x-envoy-degraded", ""))
    if state.level is Level.DRAINING:
        headers.append(("x-envoy-immediate-health-check-fail", ""))
    body = json.dumps(health_document(state), separators=(",", ":"), allow_nan=False).encode()
    return health_code(state, consul=consul), tuple(headers), body


def health_document(state: TargetState) -> dict[str, object]:
    """The health+json object: ``status``, ``output`` only when not pass, ``checks`` keyed
    ``<target>:<measurement>`` (target names never hold ``:``), each an array of objects."""
    status = health_status(state)
    doc: dict[str, object] = {"status": status, "serviceId": state.name}
    if status != "pass":
        doc["output"] = state.reason
    notes = [f"level: {state.level.value}", f"admin: {state.admin.value}"]
    if state.shutting_down:
        notes.append("agent shutting down")
    doc["notes"] = notes
    doc["checks"] = _checks(state)
    return doc


def _checks(state: TargetState) -> dict[str, list[dict[str, object]]]:
    when = _iso(state.checked_at)
    checks: dict[str, list[dict[str, object]]] = {}
    scrape: dict[str, object] = {
        "componentType": "component",
        "status": "fail" if state.error else ("pass" if state.checked_at is not None else "fail"),
        "observedValue": round(state.duration, 6),
        "observedUnit": "s",
    }
    if state.error or state.checked_at is None:
        scrape["output"] = state.error or "not checked yet"
    checks[f"{state.name}:responseTime"] = [_timed(scrape, when)]
    for cond in state.conditions:
        checks.setdefault(f"{state.name}:{cond.role.value}", []).append(_timed(_condition(cond), when))
    if not any(c.role is Role.WEIGHT for c in state.conditions):
        checks[f"{state.name}:weight"] = [_timed(_number(state.weight, "percent"), when)]
    if state.maxconn is not None and not any(c.role is Role.MAXCONN for c in state.conditions):
        checks[f"{state.name}:maxconn"] = [_timed(_number(state.maxconn, "connections"), when)]
    if state.admin is not Admin.READY or state.shutting_down:
        output = "shutting down" if state.shutting_down else f"admin state {state.admin.value}"
        admin = {"componentType": "system", "status": "fail", "observedValue": state.admin.value}
        checks[f"{state.name}:admin"] = [{**admin, "observedUnit": "admin state", "output": output}]
    return checks


def _condition(cond: Condition) -> dict[str, object]:
    # A warn condition that holds is the concern; a required one that holds is the good news.
    good = not cond.holds if cond.role is Role.WARN else cond.holds
    status = "pass" if good else ("warn" if cond.role is Role.WARN else "fail")
    unit = {Role.WEIGHT: "percent", Role.MAXCONN: "connections"}.get(cond.role, "value")
    item: dict[str, object] = {"componentId": cond.expr, "componentType": "component", "status": status}
    if cond.values:
        values = [_json_number(v) for v in cond.values]
        item["observedValue"] = values[0] if len(values) == 1 else values
        item["observedUnit"] = unit
    if status != "pass":
        item["output"] = cond.summary or ("holds" if cond.holds else "does not hold")
    return item


def _number(value: int, unit: str) -> dict[str, object]:
    return {"componentType": "component", "status": "pass", "observedValue": value, "observedUnit": unit}


def _timed(item: dict[str, object], when: str | None) -> dict[str, object]:
    if when is not None:
        item["time"] = when
    return item


def _json_number(value: float) -> float | int | str:
    """JSON has no NaN or infinities: spell them as Prometheus does (``NaN``, ``+Inf``, ``-Inf``)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return int(value) if value.is_integer() and abs(value) < 2**53 else value


def _iso(at: float | None) -> str | None:
    if at is None:
        return None
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def one_line(text: str) -> str:
    """A reason fit for a one-line protocol: control characters become spaces."""
    return "".join(ch if ch.isprintable() else " " for ch in text)
