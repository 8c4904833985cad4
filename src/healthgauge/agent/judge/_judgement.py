"""One target's verdict at one instant: its rules evaluated over its history, then judged.

Pure (``now`` is an argument; the engine only computes). Judgement itself is
:func:`healthgauge.health.judge`, shared with ``healthgauge check``: live conditions are required
for live; ready conditions are required and warn conditions warn for ready.
"""

from __future__ import annotations

import math

from healthgauge.agent._config import Rule, TargetConfig
from healthgauge.agent.judge._engine import Engine, History, Outcome
from healthgauge.health import FAIL, PASS, WARN, judge
from healthgauge.health._state import Condition, Role, Verdict

WEIGHT_MAX = 100


def evaluate(
    target: TargetConfig,
    engine: Engine,
    history: History,
    now: float,
    *,
    duration: float = 0.0,
    previous: tuple[Condition, ...] = (),
) -> Verdict:
    """The verdict of a successful scrape: ``history`` already holds its samples.

    ``previous`` are the conditions of the target's last verdict (the same rules, in the same
    order): an outcome that has not changed keeps its object, so a steady target allocates and
    compares less per scrape.
    """
    conditions: list[Condition] = []
    condition = engine.condition
    live = [(rule.text, condition(rule.expr, history, now)) for rule in target.live]
    ready = [(rule.text, condition(rule.expr, history, now)) for rule in target.ready]
    warn = [(rule.text, condition(rule.expr, history, now)) for rule in target.warn]
    for role, pairs in ((Role.LIVE, live), (Role.READY, ready), (Role.WARN, warn)):
        for text, out in pairs:
            conditions.append(_condition(role, text, out, previous, len(conditions)))
    live_judged = judge(live)
    ready_judged = judge(ready, warn)
    weight, weight_note = _number(target.weight, engine, history, now, conditions, Role.WEIGHT, previous)
    maxconn, maxconn_note = _number(target.maxconn, engine, history, now, conditions, Role.MAXCONN, previous)
    notes = [note for note in (weight_note, maxconn_note) if note]
    clamped = WEIGHT_MAX if weight is None else max(0, min(WEIGHT_MAX, round(weight)))
    if live_judged.status == FAIL:
        reason = live_judged.reason
    elif ready_judged.status != PASS:
        reason = ready_judged.reason
    elif notes:
        reason = "; ".join(notes)
    elif clamped < WEIGHT_MAX and target.weight is not None:
        reason = f"weight {clamped}: {target.weight.text}"
    else:
        reason = ready_judged.reason
    return Verdict(
        at=now,
        live=live_judged.status != FAIL,
        ready=ready_judged.status != FAIL,
        warn=ready_judged.status == WARN or bool(notes),
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
    rule: Rule | None,
    engine: Engine,
    history: History,
    now: float,
    conditions: list[Condition],
    role: Role,
    previous: tuple[Condition, ...] = (),
) -> tuple[float | None, str]:
    """The value of a weight or maxconn expression, and a note when it gave no usable number.

    No number (no series, NaN) fails closed: weight 0 and maxconn 1, with a warning that says why.
    """
    if rule is None:
        return None, ""
    out = engine.number(rule.expr, history, now)
    conditions.append(_condition(role, rule.text, out, previous, len(conditions)))
    value = out.values[0][1] if out.holds and out.values else math.nan
    if math.isnan(value):
        why = (out.summary or "no value").removeprefix(f"{rule.text}: ")  # the text is said once
        return 0.0, f"{role.value} {rule.text}: {why}"
    return value, ""


def _condition(role: Role, text: str, out: Outcome, previous: tuple[Condition, ...] = (), index: int = -1) -> Condition:
    values = tuple([value for _, value in out.values])
    if 0 <= index < len(previous):
        last = previous[index]
        if (
            last.holds == out.holds
            and last.summary == out.summary
            and last.values == values
            and last.expr == text
            and last.role is role
        ):
            return last
    return Condition(role=role, expr=text, holds=out.holds, summary=out.summary, values=values)
