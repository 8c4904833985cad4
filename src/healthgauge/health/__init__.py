"""Health judgement and its words: verdicts, hysteresis, admin state and the renderers for every
consumer. Pure: time is an argument, bytes are returned, servers elsewhere move them.

`healthgauge check` imports this package for ``judge``, so only the lean judgement is imported
here; the agent-check renderers need the state model (dataclasses, enums) and load on first use
(DEVELOPERS.md, "The check path").
"""

from healthgauge import _lazy
from healthgauge.health._judge import FAIL, PASS, WARN, Judgement, describe, judge

TYPE_CHECKING = False
if TYPE_CHECKING:
    from healthgauge.health._haproxy import parse_request as parse_agent_request
    from healthgauge.health._haproxy import render_agent_reply
    from healthgauge.health._haproxy import render_unknown as render_agent_unknown
    from healthgauge.health._haproxy import sanitize_reason as sanitize_agent_reason

__all__ = ["FAIL", "PASS", "WARN", "Judgement", "describe", "judge"]
# HAProxy agent-check (consumers.md §3)
__all__ += ["parse_agent_request", "render_agent_reply", "render_agent_unknown", "sanitize_agent_reason"]

__getattr__ = _lazy(
    __name__,
    {
        "parse_agent_request": "healthgauge.health._haproxy:parse_request",
        "render_agent_reply": "healthgauge.health._haproxy",
        "render_agent_unknown": "healthgauge.health._haproxy:render_unknown",
        "sanitize_agent_reason": "healthgauge.health._haproxy:sanitize_reason",
    },
)
