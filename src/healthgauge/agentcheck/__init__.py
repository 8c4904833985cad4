"""HAProxy agent-check (consumers.md §3): the one codec that writes and reads its words, and the
one asyncio listener that serves them. The agent (per target, from its state hub) and the overload
middleware's responder (from the process's own load) both use them.

- :class:`AgentReply` → :func:`encode_reply`: the full-state line; :func:`load_words` for the
  ``W% maxconn:N`` words alone; :func:`sanitize_reason`, :func:`parse_request`;
- :class:`Admin`: the admin word (``ready``/``drain``/``maint``), also the operator's admin state;
- :class:`AgentCheckListener` with its :class:`Overflow` policy (loads asyncio on first use).
"""

from healthgauge import _lazy
from healthgauge.agentcheck._codec import (
    MAX_REASON,
    MAX_REQUEST,
    Admin,
    AgentReply,
    down_line,
    encode_reply,
    internal_error,
    load_words,
    parse_request,
    sanitize_reason,
    unknown_target,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from healthgauge.agentcheck._listener import AgentCheckListener, ListenerStatistics, Overflow

__all__ = [
    "MAX_REASON",
    "MAX_REQUEST",
    "Admin",
    "AgentCheckListener",
    "AgentReply",
    "ListenerStatistics",
    "Overflow",
    "down_line",
    "encode_reply",
    "internal_error",
    "load_words",
    "parse_request",
    "sanitize_reason",
    "unknown_target",
]

__getattr__ = _lazy(
    __name__,
    dict.fromkeys(("AgentCheckListener", "ListenerStatistics", "Overflow"), "healthgauge.agentcheck._listener"),
)
