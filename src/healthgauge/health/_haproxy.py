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

Pure: bytes out, no clock, no I/O; the TCP listener only moves these bytes.
"""

from __future__ import annotations

from healthgauge.health._state import Admin, TargetState

#: Longest reason sent, in characters. HAProxy shows it in ``show stat`` (``last_agt``), its stats
#: page and its logs; a screenful of text helps nobody there and the full reason stays in the
#: agent's own /health answer. 200 keeps a whole reply well under HAProxy's 16 KB buffer.
MAX_REASON = 200

#: Longest request line read from HAProxy (``agent-send``), in bytes: a target name.
MAX_REQUEST = 256


def admin_word(state: TargetState) -> str:
    """``ready``, ``drain`` or ``maint``; an agent that is shutting down drains."""
    if state.admin is Admin.MAINT:
        return "maint"
    if state.shutting_down or state.admin is Admin.DRAIN:
        return "drain"
    return "ready"


def render_agent_reply(state: TargetState, *, limits_maxconn: bool = False) -> bytes:
    """The one line HAProxy applies for ``state``: operational word, admin word, weight, maxconn,
    then ``#reason`` when down.

    ``limits_maxconn`` says the target has a maxconn rule: a reply then always names a limit,
    ``maxconn:0`` (no limit) when the rule gave no number, so a limit set earlier never lingers.
    """
    up = state.live and state.ready
    words = ["up" if up else "down", admin_word(state), f"{_percent(state.weight)}%"]
    if state.maxconn is not None:
        words.append(f"maxconn:{max(0, state.maxconn)}")
    elif limits_maxconn:
        words.append("maxconn:0")
    if not up or state.safeguard:  # in service on a safeguard's word: HAProxy shows why
        words.append("#" + sanitize_reason(state.reason or "not ready"))
    return (" ".join(words) + "\n").encode("ascii")


def render_unknown(name: str) -> bytes:
    """The reply for a name no target answers to: down, fail closed, and say which name."""
    return ("down #" + sanitize_reason(f"healthgauge has no target named {name!r}") + "\n").encode("ascii")


def sanitize_reason(text: str) -> str:
    """One line of printable ASCII, at most `MAX_REASON` characters, never empty.

    Control characters (newlines included) would end or corrupt the reply, so they become
    spaces; other non-ASCII characters become ``?``; runs of spaces collapse.
    """
    if text.isascii() and text.isprintable():  # the usual reason: nothing to replace
        out = " ".join(text.split())
    else:
        chars = [(" " if not ch.isprintable() or ch.isspace() else ch) if ch.isascii() else "?" for ch in text]
        out = " ".join("".join(chars).split())
    if len(out) > MAX_REASON:
        out = out[: MAX_REASON - 3] + "..."
    return out or "no reason given"


def parse_request(data: bytes) -> str:
    """The target name in what HAProxy sent (``agent-send``), "" when it sent nothing.

    HAProxy sends the configured string as is; we read up to the first CR or LF, drop
    surrounding whitespace and take it as a name. Non-ASCII bytes cannot name a target.
    """
    line = data[:MAX_REQUEST].split(b"\n", 1)[0].split(b"\r", 1)[0]
    return line.decode("ascii", errors="replace").strip()


def _percent(weight: int) -> int:
    """HAProxy caps agent weights at 256% of the configured weight; ours are 0-100."""
    return min(100, max(0, int(weight)))
