"""HAProxy agent-check, the words on the wire (consumers.md §3): the one place they are written.

A reply is one ASCII line that HAProxy applies word by word. It keeps every word a reply leaves out
(§3.5 pitfall 5), applies nothing from a line without its ``\\n`` and freezes the last state when an
agent goes quiet (§3.3). So every reply healthgauge writes is a **full state**: operational word,
admin word, weight, maxconn where one is known, then ``#reason`` when down:

    up ready 70% maxconn:16\\n        down drain 100% #no progress for 312s\\n

Rules taken from HAProxy 2.6 as observed (§3.2, §3.5):

- the weight is ``N%`` of the configured weight, never ``weight:`` (2.6 rejects it), 0-100 here;
- ``#`` starts a word of its own and the reason runs to the end of the line, so it comes last;
- a reason is one printable ASCII line (control characters become spaces, other non-ASCII ``?``)
  of at most :data:`MAX_REASON` characters.

The only lines without an admin word are the fail-closed answers when there is no state to
describe (:func:`down_line`: a request that names no target, our own fault): ``down`` is what
must be said, and HAProxy keeps the admin state it had.

Pure: values in, bytes out; no clock, no I/O. Servers (``agentcheck._listener``) only move bytes.
"""

from __future__ import annotations

import enum
from typing import NamedTuple

#: Longest reason sent, in characters. HAProxy shows it in ``show stat`` (``last_agt``), its stats
#: page and its logs; a screenful of text helps nobody there and the full reason stays in the
#: agent's own /health answer. 200 keeps a whole reply well under HAProxy's 16 KB buffer.
MAX_REASON = 200

#: Longest request line read from HAProxy (``agent-send``), in bytes: a target name.
MAX_REQUEST = 256


class Admin(enum.Enum):
    """The admin word of a reply, which is also the operator's admin state of a target:
    HAProxy's own agent-check words (consumers.md §3.2)."""

    READY = "ready"
    DRAIN = "drain"
    MAINT = "maint"


_WORDS = {admin: admin.value for admin in Admin}  # an enum's .value is a property call


class AgentReply(NamedTuple):
    """One full-state reply.

    ``weight`` is a percent of the configured weight (clamped to 0-100; ``None`` says none, which
    only a caller that has never known one should do); ``maxconn`` a connection limit (``0``: no
    limit; ``None`` leaves HAProxy's setting alone); ``reason`` is said when not ``up``, and while
    ``up`` only with ``say_reason`` (a target kept in service by a safeguard says why; HAProxy shows
    it as ``via agent : up (<reason>)``).
    A named tuple: the agent builds one per agent check (a frozen dataclass costs twice as much).
    """

    up: bool
    admin: Admin = Admin.READY
    weight: int | None = None
    maxconn: int | None = None
    reason: str = ""
    say_reason: bool = False


def encode_reply(reply: AgentReply) -> bytes:
    """The line HAProxy applies for ``reply``, its newline included."""
    up, admin, weight, maxconn, reason, say_reason = reply
    line = ("up " if up else "down ") + _WORDS[admin] + _load(weight, maxconn)
    if not up or say_reason:
        line += " #" + sanitize_reason(reason)
    return (line + "\n").encode("ascii")


def load_words(weight: int | None, maxconn: int | None) -> list[str]:
    """The load words of a reply: ``["70%", "maxconn:16"]``, each only when known."""
    return _load(weight, maxconn).split()


def _load(weight: int | None, maxconn: int | None) -> str:
    text = "" if weight is None else f" {min(100, max(0, int(weight)))}%"
    return text if maxconn is None else f"{text} maxconn:{max(0, maxconn)}"


def unknown_target(name: str) -> bytes:
    """The reply for a name no target answers to: down, fail closed, and say which name."""
    return down_line(f"healthgauge has no target named {name!r}")


def internal_error(exc: BaseException) -> bytes:
    """The reply when answering failed on our side: never silent, fail closed."""
    return down_line(f"healthgauge internal error: {exc!r}")


def down_line(reason: str) -> bytes:
    """``down #reason``: the fail-closed reply when there is no target state to describe."""
    return ("down #" + sanitize_reason(reason) + "\n").encode("ascii")


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
