"""The HAProxy harness itself: it starts a real HAProxy, reads its view back, and parses it right.

The agent-check replies here come from a fixed-line agent (`LineAgent`), so a failure points at
the harness, not at healthgauge's own listener.
"""

from pathlib import Path

import pytest

from support.backends import Backend, LineAgent
from support.haproxy import HAProxy, check_config, parse_servers_state, parse_show_stat
from support.procs import http_get

TEMPLATE = """\
global
    stats socket {sock} mode 600 level admin
    stats timeout 30s
defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend fe_app
    bind 127.0.0.1:{fe_port}
    default_backend be_app
backend be_app
    balance roundrobin
    option httpchk GET /
    default-server weight 100 check inter 200ms agent-check agent-inter 200ms
    server s1 127.0.0.1:{web1} agent-port {agent1} agent-send "be_app/s1\\n"
    server s2 127.0.0.1:{web2} agent-port {agent2} agent-send "be_app/s2\\n"
"""

# HAProxy 2.6.12 (observed): once any server in the config has `agent-send`, the agent checks of
# servers without it stop connecting and show L7TOUT, even in another backend. So the no-send case
# gets a config of its own.
NOSEND = """\
global
    stats socket {sock} mode 600 level admin
defaults
    timeout connect 1s
    timeout client 5s
    timeout server 5s
backend be_nosend
    server s3 127.0.0.1:{web} weight 100 check inter 200ms agent-check agent-port {agent} agent-inter 200ms
"""


def test_parse_show_stat_reads_quoted_commas() -> None:
    text = (
        '# pxname,svname,status,weight,last_agt\nbe,s1,DOWN (agent),100,"via agent : down (a, b)"\nbe,s2,UP 2/3,50,\n\n'
    )
    rows = parse_show_stat(text)
    assert rows[("be", "s1")]["last_agt"] == "via agent : down (a, b)"
    assert rows[("be", "s2")]["status"] == "UP 2/3"


def test_parse_servers_state_by_header_name() -> None:
    text = "1\n# be_id be_name srv_id srv_name srv_op_state srv_admin_state\n3 be 1 s1 2 8\n\n"
    assert parse_servers_state(text)[("be", "s1")]["srv_admin_state"] == "8"


def test_parsers_refuse_other_replies() -> None:
    with pytest.raises(AssertionError, match="show stat"):
        parse_show_stat("Unknown command.\n")
    with pytest.raises(AssertionError, match="servers state"):
        parse_servers_state("Can't find backend.\n")


@pytest.mark.real
def test_haproxy_applies_agent_lines_and_routes(tmp_path: Path) -> None:
    with (
        Backend("web1") as web1,
        Backend("web2") as web2,
        LineAgent(b"up ready 100%\n") as agent1,
        LineAgent(b"up ready 100%\n") as agent2,
        HAProxy(tmp_path, TEMPLATE, web1=web1.port, web2=web2.port, agent1=agent1.port, agent2=agent2.port) as hap,
    ):
        assert len(hap.sock) < 108
        for s in ("s1", "s2"):
            row = hap.wait_server("be_app", s, status="UP", weight="100", agent_status="L7OK", srv_op_state="2")
            assert row["srv_iweight"] == "100"
        # `agent-send` arrives with its escape decoded.
        assert set(agent1.received) == {b"be_app/s1\n"}

        agent1.line = b"up ready 50% maxconn:7\n"
        hap.wait_server("be_app", "s1", status="UP", weight="50", slim="7", srv_uweight="50")
        agent1.line = b"up drain 50%\n"
        hap.wait_server("be_app", "s1", status="DRAIN", srv_admin_state="8")
        agent1.line = b"down #a reason, with a comma\n"
        row = hap.wait_server("be_app", "s1", status="DOWN (agent)", srv_op_state="0")
        assert row["last_agt"] == "via agent : down (a reason, with a comma)"

        # With s1 down every request goes to s2, through a frontend on a picked port.
        before = web1.hits["/"]
        for _ in range(6):
            status, body = http_get(f"http://127.0.0.1:{hap.fe_port}/", timeout=2)
            assert (status, body) == (200, b"web2\n")
        assert web1.hits["/"] - before <= 3  # health checks only (inter 200ms)

        agent1.line = b"up ready 100% maxconn:0\n"
        hap.wait_server("be_app", "s1", status="UP", weight="100", slim="", srv_admin_state="0")


@pytest.mark.real
def test_without_agent_send_haproxy_sends_nothing(tmp_path: Path) -> None:
    with (
        Backend("web") as web,
        LineAgent(b"up ready 70%\n") as agent,
        HAProxy(tmp_path, NOSEND, web=web.port, agent=agent.port) as hap,
    ):
        hap.wait_server("be_nosend", "s3", status="UP", weight="70", agent_status="L7OK")
        assert set(agent.received) == {b""}


@pytest.mark.real
def test_a_bad_config_is_reported_with_haproxy_log(tmp_path: Path) -> None:
    bad = tmp_path / "bad.cfg"
    bad.write_text("backend b\n    server s 127.0.0.1:1 bogus-keyword\n")
    assert check_config(bad).returncode != 0
    with (
        pytest.raises(AssertionError, match="bogus-keyword"),
        HAProxy(tmp_path, "global\n    stats socket {sock}\n" + bad.read_text()),
    ):
        pass
