"""A real agent process killed with SIGKILL and started again with its state file: the first
answers after the restart are the last state (consumers.md §3.5: "on restart send a complete state
first"), and what is too old to trust is not restored."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest

from support.agentproc import AgentProcess
from support.backends import MetricsTarget
from support.procs import http_get, wait_until

# rise 2 at 1 s: a fresh agent cannot call a target ready within a second of its start, so a
# ready answer right after the restart can only come from the state file. fall 6 at 1 s: a saved
# state is trusted for 6 s (a loaded machine may take seconds to start the new process).
AGENT = """\
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
rise = 2
fall = 6
"""


@dataclass
class Rig:
    agent: AgentProcess
    state: Path

    def readyz(self, name: str) -> int:
        return http_get(f"http://{self.agent.addresses['http']}/readyz/{name}")[0]

    def agent_check(self, name: str) -> bytes:
        with socket.create_connection(("127.0.0.1", self.agent.port("haproxy_listen")), timeout=2) as s:
            s.sendall(name.encode() + b"\n")
            return s.makefile("rb").readline()


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    with ExitStack() as stack:
        m1 = stack.enter_context(MetricsTarget(app_state=1, weight_hint=60))
        m2 = stack.enter_context(MetricsTarget(app_state=1, weight_hint=100))
        state = tmp_path / "state.json"
        agent = stack.enter_context(AgentProcess(tmp_path, AGENT.format(m1=m1.url, m2=m2.url, state=state)))
        rig = Rig(agent, state)
        wait_until(lambda: rig.readyz("web1") == 200 and rig.readyz("web2") == 200, timeout=10, what="both ready")
        assert rig.agent.admin("web2", "drain")["admin"] == "drain"
        yield rig


def test_after_kill_9_the_first_answers_are_the_last_state(rig: Rig) -> None:
    assert rig.agent_check("web1") == b"up ready 60%\n"
    rig.agent.kill()
    rig.agent.start(rig.agent.pinned_config())
    # The very first requests to the new process: no check of its own has made a target ready yet.
    assert rig.agent_check("web1") == b"up ready 60%\n"
    assert rig.agent_check("web2") == b"up drain 100%\n"
    assert rig.readyz("web1") == 200
    assert rig.readyz("web2") == 503
    assert rig.agent.state("web1")["checked_at"] is not None
    assert "state_file: web1: admin ready and judged state (degraded) restored" in rig.agent.log()


def test_a_state_older_than_fall_times_interval_restores_only_the_drain(rig: Rig) -> None:
    rig.agent.kill()
    time.sleep(6.5)  # past fall × interval: the saved verdicts are no longer evidence
    rig.agent.start(rig.agent.pinned_config())
    assert rig.agent_check("web1").startswith(b"down ready ")
    assert rig.agent_check("web2").startswith(b"down drain ")
    assert rig.readyz("web1") == 503
    assert rig.agent.state("web2")["admin"] == "drain"
    # Then the checks themselves make web1 ready again; web2 stays drained until `ctl ready`.
    wait_until(lambda: rig.readyz("web1") == 200, timeout=10, what="web1 ready from its own checks")
    assert rig.agent_check("web2") == b"up drain 100%\n"


def test_a_corrupt_state_file_is_reported_and_the_agent_starts_fresh(rig: Rig) -> None:
    rig.agent.kill()
    rig.state.write_text('{"version": 1, "targets": ')
    rig.agent.start(rig.agent.pinned_config())
    assert rig.agent_check("web1").startswith(b"down ready ")
    assert rig.agent_check("web2").startswith(b"down ready ")  # the drain was in the lost file
    assert rig.agent.proc is not None
    assert rig.agent.proc.poll() is None
    log = rig.agent.log()
    assert f"state_file {rig.state}: invalid JSON at line 1 column 27: Expecting value" in log
    assert "every target starts fresh (live, not ready)" in log
    assert rig.state.with_name("state.json.corrupt").read_text() == '{"version": 1, "targets": '
