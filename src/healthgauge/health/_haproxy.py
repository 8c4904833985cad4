"""HAProxy agent-check replies from target states (consumers.md §3 and §10).

One reply is one ASCII line that always carries the whole state, because HAProxy keeps every word
a reply leaves out (§3.5 pitfall 5) and freezes the last state when an agent goes quiet (§3.3):

=========== =====================================================
level       reply
=========== =====================================================
healthy     ``up ready 100%``
degraded    ``up ready W%``                 (plus ``maxconn:M`` when the target has a limit)
overloaded  ``up ready 0% maxconn:M``
draining    ``up drain W%``                 (``maint`` for the operator's maint)
unhealthy   ``down ready W% #<reason>``
dead        ``down ready W% #<reason>``
=========== =====================================================

A target kept in service by a safeguard (flap damping, the cascade guard) answers ``up ready W%
#<reason>``: the reason says which and why (HAProxy shows it as ``via agent : up (<reason>)``).

Rules taken from HAProxy 2.6 as observed (§3.2, §3.5):

- the weight is ``N%`` of the configured weight, never ``weight:`` (2.6 rejects it);
- ``#`` starts a word of its own and the reason runs to the end of the line, so it comes last;
- the line always ends with ``\\n``: without it HAProxy applies nothing;
- a reason is one printable ASCII line (control characters and non-ASCII become spaces or ``?``)
  of at most `MAX_REASON` characters.

From target states to replies; the words themselves are written by the one codec,
:mod:`healthgauge.agentcheck`. Pure: bytes out, no clock, no I/O; the listener only moves them.
"""

from __future__ import annotations

from healthgauge.agentcheck._codec import (
    MAX_REASON,
    MAX_REQUEST,
    Admin,
    AgentReply,
    encode_reply,
    parse_request,
    sanitize_reason,
    unknown_target,
)
from healthgauge.health._spec import TargetSpec
from healthgauge.health._state import TargetState

__all__ = [
    "MAX_REASON",
    "MAX_REQUEST",
    "admin_word",
    "parse_request",
    "render_agent_reply",
    "render_unknown",
    "reply_for",
    "sanitize_reason",
]


def admin_word(state: TargetState) -> Admin:
    """``ready``, ``drain`` or ``maint``; an agent that is shutting down drains."""
    if state.admin is Admin.MAINT:
        return Admin.MAINT
    if state.shutting_down or state.admin is Admin.DRAIN:
        return Admin.DRAIN
    return Admin.READY


def reply_for(state: TargetState, spec: TargetSpec | None = None, *, limits_maxconn: bool = False) -> AgentReply:
    """What HAProxy is told for ``state``: up only when live and ready, the weight always, maxconn
    when the target has a limit, the reason (or "not ready") when down.

    ``spec.limits_maxconn`` (or the keyword, for a caller without a spec) says the target has a
    maxconn rule: a reply then always names a limit, ``maxconn:0`` (no limit) when the rule gave no
    number, so a limit set earlier never lingers.
    """
    if spec is not None:
        limits_maxconn = spec.limits_maxconn
    up = state.live and state.ready
    maxconn = state.maxconn if state.maxconn is not None else (0 if limits_maxconn else None)
    return AgentReply(
        up=up,
        admin=admin_word(state),
        weight=state.weight,
        maxconn=maxconn,
        reason=state.reason or "not ready",
        say_reason=bool(state.safeguard),  # in service on a safeguard's word (damping, the cascade guard)
    )


def render_agent_reply(state: TargetState, spec: TargetSpec | None = None, *, limits_maxconn: bool = False) -> bytes:
    """The one line HAProxy applies for ``state``: operational word, admin word, weight, maxconn,
    then ``#reason`` when down or kept up by a safeguard (:func:`reply_for`, written by the one codec)."""
    return encode_reply(reply_for(state, spec, limits_maxconn=limits_maxconn))


def render_unknown(name: str) -> bytes:
    """The reply for a name no target answers to: down, fail closed, and say which name."""
    return unknown_target(name)
