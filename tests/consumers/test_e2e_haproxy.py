"""End to end: a real HAProxy 2.6 routes real requests by what a real agent process judges from
real metrics pages (consumers.md §3, §11 "HAProxy agent-check").

Two services (web1, web2) sit behind HAProxy; each has a /metrics page the test changes, and the
agent (one process, both targets) answers HAProxy's agent checks on ``haproxy_listen``. web1 is
driven healthy → degraded → overloaded → drain → down → up; web2 stays healthy. Each state is
read from HAProxy's stats socket, then from the split of requests sent through its frontend.
"""

import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest

from support.agentproc import AgentProcess
from support.backends import Backend, MetricsTarget
from support.haproxy import HAProxy
from support.procs import settled_split, wait_until

pytestmark = pytest.mark.real

HEALTHY = {"app_state": 1, "queue_depth": 3, "weight_hint": 100, "conn_limit": 1000}

AGENT = """\
[agent]
listen = "127.0.0.1:0"
admin = "127.0.0.1:0"
haproxy_listen = "127.0.0.1:0"
shutdown_grace = "300ms"

[[targets]]
urls = {{ web1 = "{m1}", web2 = "{m2}" }}
interval = "100ms"
timeout = "90ms"
ready = ["app_state == 1"]
warn = ["queue_depth > 100"]
weight = "weight_hint"
maxconn = "conn_limit"
rise = 1
fall = 1
"""

HAPROXY = """\
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
    default-server weight 100 check inter 200ms agent-check agent-port {agent} agent-inter 200ms
    server web1 127.0.0.1:{web1} agent-send "web1\\n"
    server web2 127.0.0.1:{web2} agent-send "web2\\n"
"""


@dataclass
class Rig:
    m1: MetricsTarget
    m2: MetricsTarget
    agent: AgentProcess
    hap: HAProxy

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.hap.fe_port}/"

    def web1(self, **expect: object) -> dict[str, str]:
        return self.hap.wait_server("be_app", "web1", **expect)

    def split(self, ok: "object") -> dict[bytes, int]:
        return settled_split(self.url, 30, ok=ok)  # type: ignore[arg-type]


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    with ExitStack() as stack:
        web1 = stack.enter_context(Backend("web1"))
        web2 = stack.enter_context(Backend("web2"))
        m1 = stack.enter_context(MetricsTarget(**HEALTHY))
        m2 = stack.enter_context(MetricsTarget(**HEALTHY))
        agent = stack.enter_context(AgentProcess(tmp_path, AGENT.format(m1=m1.url, m2=m2.url)))
        hap = stack.enter_context(
            HAProxy(tmp_path, HAPROXY, web1=web1.port, web2=web2.port, agent=agent.port("haproxy_listen"))
        )
        yield Rig(m1, m2, agent, hap)


def near(got: dict[bytes, int], web1: int, web2: int, *, tolerance: int = 2) -> bool:
    return (
        set(got) <= {b"web1\n", b"web2\n"}
        and abs(got.get(b"web1\n", 0) - web1) <= tolerance
        and abs(got.get(b"web2\n", 0) - web2) <= tolerance
    )


def only_web2(got: dict[bytes, int]) -> bool:
    return got == {b"web2\n": 30}


def test_haproxy_follows_the_agent_through_every_level(rig: Rig) -> None:
    base = {"status": "UP", "weight": "100", "slim": "1000", "srv_admin_state": "0", "agent_status": "L7OK"}
    rig.web1(**base)
    rig.hap.wait_server("be_app", "web2", **base)
    assert near(rig.split(lambda got: near(got, 15, 15)), 15, 15)

    # Degraded: the service asks for half the traffic.
    rig.m1.set(weight_hint=50, queue_depth=300)
    rig.web1(status="UP", weight="50", srv_uweight="50", srv_iweight="100")
    assert near(rig.split(lambda got: near(got, 10, 20)), 10, 20)

    # Overloaded: no new share of traffic and a connection limit.
    rig.m1.set(weight_hint=0, conn_limit=3)
    rig.web1(status="UP", weight="0", slim="3", srv_op_state="2")
    assert rig.split(only_web2) == {b"web2\n": 30}

    # Drained by the operator (admin API, as `healthgauge ctl drain web1` does).
    rig.m1.set(**HEALTHY)
    rig.web1(status="UP", weight="100", slim="1000")
    assert rig.agent.admin("web1", "drain")["level"] == "draining"
    rig.web1(status="DRAIN (agent)", srv_admin_state="8", weight="100")
    assert rig.split(only_web2) == {b"web2\n": 30}

    # Down, while still drained: HAProxy shows the agent's reason.
    rig.m1.set(app_state=0)
    row = rig.web1(status="DOWN (agent)", srv_op_state="0", agent_status="L7STS")
    # The agent's reason (the failing condition and what it saw), as its own word after "down".
    assert row["last_agt"].startswith("via agent : down (app_state == 1")
    assert row["srv_admin_state"] == "8"
    assert rig.split(only_web2) == {b"web2\n": 30}

    # Up again: every word restored by the agent's full-state reply.
    rig.m1.set(app_state=1)
    rig.agent.admin("web1", "ready")
    rig.web1(**base)
    assert near(rig.split(lambda got: near(got, 15, 15)), 15, 15)
    assert "agent reports an error" not in rig.hap.log()


def test_a_killed_agent_freezes_haproxy_and_its_first_reply_restores_everything(rig: Rig) -> None:
    rig.web1(status="UP", weight="100", agent_status="L7OK")
    rig.m1.set(weight_hint=40)
    rig.agent.admin("web1", "drain")
    rig.web1(status="DRAIN (agent)", weight="40", srv_admin_state="8")

    rig.agent.kill()
    # HAProxy keeps working on the last state it was told (consumers.md §3.3): web1 stays
    # drained at 40, web2 takes every request, and the failed agent check is only noted.
    rig.web1(agent_status="L4CON", last_agt="Connection refused")
    for _ in range(3):
        row = rig.web1(status="DRAIN (agent)", weight="40", srv_admin_state="8")
    assert row["agent_status"].lstrip("* ").startswith("L4CON")
    assert rig.split(only_web2) == {b"web2\n": 30}

    # While the agent is away the service recovers; the restarted agent (same port, admin state
    # ready again) puts web1 back in full: admin ready, weight and limit, up.
    rig.m1.set(**HEALTHY)
    rig.agent.start(rig.agent.pinned_config())
    rig.web1(status="UP", weight="100", slim="1000", srv_admin_state="0", agent_status="L7OK")
    assert near(rig.split(lambda got: near(got, 15, 15)), 15, 15)


def test_an_agent_up_does_not_override_a_failing_regular_check(tmp_path: Path) -> None:
    with ExitStack() as stack:
        web1 = stack.enter_context(Backend("web1"))
        web2 = stack.enter_context(Backend("web2"))
        m1 = stack.enter_context(MetricsTarget(**HEALTHY))
        m2 = stack.enter_context(MetricsTarget(**HEALTHY))
        agent = stack.enter_context(AgentProcess(tmp_path, AGENT.format(m1=m1.url, m2=m2.url)))
        hap = stack.enter_context(
            HAProxy(tmp_path, HAPROXY, web1=web1.port, web2=web2.port, agent=agent.port("haproxy_listen"))
        )
        hap.wait_server("be_app", "web1", status="UP", weight="100", agent_status="L7OK")
        web1.__exit__()  # the service itself stops answering; its metrics still say healthy
        row = hap.wait_server("be_app", "web1", status="DOWN", timeout=10)
        assert not row["status"].startswith("DOWN (agent)")
        assert row["agent_status"].lstrip("* ").startswith("L7OK")


def test_sigterm_drains_every_server_before_the_agent_exits(rig: Rig) -> None:
    for server in ("web1", "web2"):
        rig.hap.wait_server("be_app", server, status="UP", agent_status="L7OK")
    assert rig.agent.proc is not None
    rig.agent.proc.terminate()
    # shutdown_grace is 300 ms and HAProxy polls every 200 ms: it hears "drain" before the exit.
    wait_until(
        lambda: all(rig.hap.server("be_app", s)["srv_admin_state"] == "8" for s in ("web1", "web2")),
        timeout=5,
        what="both servers drained by the agent's shutdown",
    )
    assert rig.agent.terminate() == 0


NO_SEND = """\
global
    stats socket {sock} mode 600 level admin
defaults
    timeout connect 1s
    timeout client 5s
    timeout server 5s
backend be_app
    server web1 127.0.0.1:{web1} weight 100 check inter 200ms agent-check agent-port {agent} agent-inter 200ms
"""


def test_without_agent_send_the_agent_answers_for_its_default_target(tmp_path: Path) -> None:
    with ExitStack() as stack:
        web1 = stack.enter_context(Backend("web1"))
        m1 = stack.enter_context(MetricsTarget(**HEALTHY))
        m2 = stack.enter_context(MetricsTarget(**HEALTHY))
        config = AGENT.format(m1=m1.url, m2=m2.url).replace("[[targets]]", 'haproxy_default = "web1"\n\n[[targets]]')
        agent = stack.enter_context(AgentProcess(tmp_path, config))
        hap = stack.enter_context(HAProxy(tmp_path, NO_SEND, web1=web1.port, agent=agent.port("haproxy_listen")))
        hap.wait_server("be_app", "web1", status="UP", weight="100", slim="1000", agent_status="L7OK")
        m1.set(weight_hint=25)
        hap.wait_server("be_app", "web1", status="UP", weight="25")


HTTPCHK = """\
global
    stats socket {sock} mode 600 level admin
defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
backend be_probe
    option httpchk GET /readyz/web1
    server agent 127.0.0.1:{http} check inter 50ms fall 1 rise 1
"""


def test_haproxy_http_checks_of_the_agent_survive_its_resets(rig: Rig, tmp_path: Path) -> None:
    """HAProxy closes every HTTP check with a TCP RST (consumers.md §3.6); the agent shrugs."""
    probe_dir = tmp_path / "probe"
    probe_dir.mkdir()
    with HAProxy(probe_dir, HTTPCHK, http=rig.agent.port("http")) as hap:
        hap.wait_server("be_probe", "agent", status="UP", check_status="L7OK")
        rig.m1.set(app_state=0)
        hap.wait_server("be_probe", "agent", status="DOWN", check_status="L7STS")
        rig.m1.set(app_state=1)
        row = hap.wait_server("be_probe", "agent", status="UP", check_status="L7OK")
        assert int(row["chkfail"]) >= 1
    assert rig.agent.proc is not None
    assert rig.agent.proc.poll() is None
    assert "Traceback" not in rig.agent.log()


# With a state file, fall 5 at 1 s: a saved state is trusted for 5 s (the kill, a second of HAProxy
# polling a dead agent, a restart on a busy machine), and rise 2 at 1 s means a fresh agent could
# not answer `up` within a second of its start.
PERSISTENT = """\
[agent]
listen = "127.0.0.1:0"
admin = "127.0.0.1:0"
haproxy_listen = "127.0.0.1:0"
shutdown_grace = "0s"
state_file = "{state}"

[[targets]]
urls = {{ web1 = "{m1}", web2 = "{m2}" }}
interval = "1s"
timeout = "500ms"
ready = ["app_state == 1"]
weight = "weight_hint"
maxconn = "conn_limit"
rise = 2
fall = 5
"""


def test_with_a_state_file_a_killed_agent_restarts_without_an_outage(tmp_path: Path) -> None:
    with ExitStack() as stack:
        web1 = stack.enter_context(Backend("web1"))
        web2 = stack.enter_context(Backend("web2"))
        m1 = stack.enter_context(MetricsTarget(**HEALTHY))
        m2 = stack.enter_context(MetricsTarget(**HEALTHY))
        config = PERSISTENT.format(m1=m1.url, m2=m2.url, state=tmp_path / "state.json")
        agent = stack.enter_context(AgentProcess(tmp_path, config))
        hap = stack.enter_context(
            HAProxy(tmp_path, HAPROXY, web1=web1.port, web2=web2.port, agent=agent.port("haproxy_listen"))
        )
        base = {"status": "UP", "weight": "100", "slim": "1000", "agent_status": "L7OK"}
        hap.wait_server("be_app", "web2", **base)
        hap.wait_server("be_app", "web1", **base)
        agent.admin("web1", "drain")
        hap.wait_server("be_app", "web1", status="DRAIN (agent)", srv_admin_state="8")

        seen: dict[str, set[str]] = {"web1": set(), "web2": set()}
        agent_status: set[str] = set()

        def watch(seconds: float) -> None:
            """Every HAProxy view of both servers for ``seconds`` (~50 a second)."""
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                stat = hap.show_stat()
                for name in seen:
                    seen[name].add(stat[("be_app", name)]["status"])
                    agent_status.add(stat[("be_app", name)]["agent_status"].lstrip("* ")[:5])
                time.sleep(0.02)

        agent.kill()
        watch(1.0)  # HAProxy polls the dead agent 5 times: refused, state kept
        agent.start(agent.pinned_config())
        watch(2.0)  # the restarted agent's first replies, then its own checks
        assert seen == {"web1": {"DRAIN (agent)"}, "web2": {"UP"}}
        assert {"L4CON", "L7OK"} <= agent_status
        row = hap.wait_server("be_app", "web2", **base)
        assert row["srv_admin_state"] == "0"
        row = hap.wait_server("be_app", "web1", status="DRAIN (agent)", weight="100", agent_status="L7OK")
        assert row["srv_admin_state"] == "8"
        assert near(settled_split(f"http://127.0.0.1:{hap.fe_port}/", 30, ok=only_web2), 0, 30)
