"""Every rendered agent-check reply, applied by a real HAProxy 2.6, in both orders.

Each reply carries the full state, so what HAProxy shows must depend only on the last reply, never
on the one before (omitted words would keep their old values, consumers.md §3.5 pitfall 5). The
replies are served by a fixed-line agent; the agent's own listener is tested end to end elsewhere.
"""

import dataclasses
from pathlib import Path

import pytest

from healthgauge.health import render_agent_reply
from healthgauge.health._state import Admin, TargetState
from support.backends import Backend, LineAgent
from support.haproxy import HAProxy

pytestmark = pytest.mark.real

CONFIG = """\
global
    stats socket {sock} mode 600 level admin
defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
backend be_app
    balance roundrobin
    server s1 127.0.0.1:{web} weight 100 check inter 200ms agent-check agent-port {agent} agent-inter 150ms
"""

H = TargetState(name="s1", live=True, ready=True, weight=100, reason="ok")
REASON = "no progress for 312s, queue 4,000 deep"

# (state, what HAProxy shows: status prefix, weight, slim, admin bits, op state)
STEPS = [
    (H, {"status": "UP", "weight": "100", "slim": "", "srv_admin_state": "0", "srv_op_state": "2"}),
    (dataclasses.replace(H, weight=50), {"status": "UP", "weight": "50", "slim": "", "srv_admin_state": "0"}),
    # HAProxy leaves the weight alone while in MAINT (observed); the next reply sets it again.
    (dataclasses.replace(H, admin=Admin.MAINT), {"status": "MAINT", "srv_admin_state": "1", "srv_op_state": "0"}),
    (
        dataclasses.replace(H, weight=0, maxconn=40),
        {"status": "UP", "weight": "0", "slim": "40", "srv_admin_state": "0"},
    ),
    (
        dataclasses.replace(H, admin=Admin.DRAIN, weight=30),
        {"status": "DRAIN (agent)", "weight": "30", "srv_admin_state": "8", "srv_op_state": "2"},
    ),
    (
        dataclasses.replace(H, ready=False, reason=REASON),
        {
            "status": "DOWN (agent)",
            "srv_op_state": "0",
            "srv_admin_state": "0",
            "weight": "100",
            "last_agt": f"via agent : down ({REASON})",
        },
    ),
    (
        dataclasses.replace(H, live=False, ready=False, maxconn=3, reason="dead"),
        {"status": "DOWN (agent)", "slim": "3", "last_agt": "via agent : down (dead)"},
    ),
    (dataclasses.replace(H, shutting_down=True), {"status": "DRAIN (agent)", "srv_admin_state": "8"}),
]


def test_without_a_maxconn_rule_the_limit_configured_in_haproxy_stays(tmp_path: Path) -> None:
    """A target with no maxconn rule never names one, so HAProxy's own `maxconn 25` holds."""
    config = CONFIG.replace("weight 100 check", "weight 100 maxconn 25 check")
    with (
        Backend("web") as web,
        LineAgent(render_agent_reply(dataclasses.replace(H, weight=70))) as agent,
        HAProxy(tmp_path, config, web=web.port, agent=agent.port) as hap,
    ):
        hap.wait_server("be_app", "s1", status="UP", weight="70", slim="25", agent_status="L7OK")


def test_each_reply_sets_the_whole_state_whatever_came_before(tmp_path: Path) -> None:
    with (
        Backend("web") as web,
        LineAgent(render_agent_reply(H)) as agent,
        HAProxy(tmp_path, CONFIG, web=web.port, agent=agent.port) as hap,
    ):
        hap.wait_server("be_app", "s1", status="UP", weight="100", agent_status="L7OK")
        for state, view in [*STEPS, *reversed(STEPS)]:
            # A target with a maxconn rule: every reply names a limit (maxconn:0 lifts it).
            agent.line = render_agent_reply(state, limits_maxconn=True)
            hap.wait_server("be_app", "s1", what=f"{agent.line!r} applied", **view)
        assert "agent reports an error" not in hap.log()
