"""Health judgement and its words: verdicts, hysteresis, admin state and the renderers for every
consumer. Pure: time is an argument, bytes are returned, servers elsewhere move them."""

from healthgauge.health._haproxy import parse_request as parse_agent_request
from healthgauge.health._haproxy import render_agent_reply
from healthgauge.health._haproxy import render_unknown as render_agent_unknown
from healthgauge.health._haproxy import sanitize_reason as sanitize_agent_reason
from healthgauge.health._judge import FAIL, PASS, WARN, Judgement, describe, judge

__all__ = ["FAIL", "PASS", "WARN", "Judgement", "describe", "judge"]
# HAProxy agent-check (consumers.md §3)
__all__ += ["parse_agent_request", "render_agent_reply", "render_agent_unknown", "sanitize_agent_reason"]
