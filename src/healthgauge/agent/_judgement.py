"""One target's verdict at one instant: its rules evaluated over its history, then judged.

Pure (``now`` is an argument; the engine only computes). Judgement itself is
:func:`healthgauge.health.judge`, shared with ``healthgauge check``: live conditions are required
for live; ready conditions are required and warn conditions warn for ready.
"""

from __future__ import annotations

import math

from healthgauge.agent._config import Rule, TargetConfig
from healthgauge.agent._engine import Engine, History, Outcome
from healthgauge.health import FAIL, PASS, WARN, judge
from healthgauge.health._state import Condition, Role, Verdict

WEIGHT_MAX = 100


def evaluate(target: TargetConfig, engine: Engine, history: History, now: float, *, duration: float = 0.0) -> Verdict:
    """The verdict of a successful scrape: ``history`` already holds its samples."""
    conditions: list[Condition] = []
    pairs = {}
    for role, rules in ((Role.LIVE, target.live), (Role.READY, target.ready), (Role.WARN, target.warn)):
        pairs[role] = [(rule.text, engine.condition(rule.expr, history, now)) for rule in rules]
        conditions += [_condition(role, text, out) for text, out in pairs[role]]
    live = judge(pairs[Role.LIVE])
    ready = judge(pairs[Role.READY], pairs[Role.WARN])
    weight, weight_note = _number(target.weight, engine, history, now, conditions, Role.WEIGHT)
    maxconn, maxconn_note = _number(target.maxconn, engine, history, now, conditions, Role.MAXCONN)
    notes = [note for note in (weight_note, maxconn_note) if note]
    clamped = WEIGHT_MAX if weight is None else max(0, min(WEIGHT_MAX, round(weight)))
    if live.status == FAIL:
        reason = live.reason
    elif ready.status != PASS:
        reason = ready.reason
    elif notes:
        reason = "; ".join(notes)
    elif clamped < WEIGHT_MAX and target.weight is not None:
        reason = f"weight {clamped}: {target.weight.text}"
    else:
        reason = ready.reason
    return Verdict(
        at=now,
        live=live.status != FAIL,
        ready=ready.status != FAIL,
        warn=ready.status == WARN or bool(notes),
        weight=clamped,
        maxconn=None if target.maxconn is None else max(1, round(maxconn if maxconn is not None else 1)),
        reason=reason,
        duration=duration,
        conditions=tuple(conditions),
    )


def failed(error: str, now: float, *, duration: float = 0.0) -> Verdict:
    """The verdict of a scrape that failed: a failed check for live and ready (fail closed)."""
    return Verdict(at=now, live=False, ready=False, error=error, reason=f"scrape failed: {error}", duration=duration)


def _number(
    rule: Rule | None, engine: Engine, history: History, now: float, conditions: list[Condition], role: Role
) -> tuple[float | None, str]:
    """The value of a weight or maxconn expression, and a note when it gave no usable number.

    No number (no series, NaN) fails closed: weight 0 and maxconn 1, with a warning that says why.
    """
    if rule is None:
        return None, ""
    out = engine.number(rule.expr, history, now)
    conditions.append(_condition(role, rule.text, out))
    value = out.values[0] if out.holds and out.values else math.nan
    if math.isnan(value):
        why = out.summary or "no value"
        return 0.0, f"{role.value} {rule.text}: {why}"
    return value, ""


def _condition(role: Role, text: str, out: Outcome) -> Condition:
    return Condition(role=role, expr=text, holds=out.holds, summary=out.summary, values=tuple(out.values))
