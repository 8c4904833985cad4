"""Health judgement and its words: verdicts, hysteresis, admin state, the per-target model and the
renderers for every consumer. Pure: time is an argument, bytes are returned, servers elsewhere move
them.

`healthgauge check` imports this package for ``judge``, so only the lean judgement is imported
here; the state model (dataclasses, enums) and the renderers load on first use
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
    from healthgauge.health._http import render_health
    from healthgauge.health._spec import TargetSpec
    from healthgauge.health._state import (
        Admin,
        Condition,
        Level,
        Overloaded,
        Policy,
        Role,
        TargetState,
        Verdict,
        level_of,
    )

__all__ = ["FAIL", "PASS", "WARN", "Judgement", "describe", "judge"]
# The per-target model: a spec from the configuration, a state from the checks
__all__ += ["Admin", "Condition", "Level", "Overloaded", "Policy", "Role", "TargetSpec", "TargetState", "Verdict"]
__all__ += ["level_of"]
# Renderers: HAProxy agent-check (consumers.md §3), health+json (§8)
__all__ += ["parse_agent_request", "render_agent_reply", "render_agent_unknown", "render_health"]
__all__ += ["sanitize_agent_reason"]

_STATE = "healthgauge.health._state"
__getattr__ = _lazy(
    __name__,
    {
        **dict.fromkeys(
            ("Admin", "Condition", "Level", "Overloaded", "Policy", "Role", "TargetState", "Verdict", "level_of"),
            _STATE,
        ),
        "TargetSpec": "healthgauge.health._spec",
        "parse_agent_request": "healthgauge.health._haproxy:parse_request",
        "render_agent_reply": "healthgauge.health._haproxy",
        "render_agent_unknown": "healthgauge.health._haproxy:render_unknown",
        "render_health": "healthgauge.health._http",
        "sanitize_agent_reason": "healthgauge.health._haproxy:sanitize_reason",
    },
)
