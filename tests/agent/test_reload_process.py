"""A real `healthgauge agent` process: JSON logs an operator can read, SIGHUP and `ctl reload`."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from healthgauge.testing import MetricsServer
from support.agentproc import AgentProcess
from support.procs import http_get, wait_until

CTL = [sys.executable, "-m", "healthgauge", "ctl"]


@pytest.fixture
def server() -> Iterator[MetricsServer]:
    with MetricsServer("# TYPE app_state gauge\napp_state 1\n") as served:
        yield served


def config(targets: dict[str, str], ready: str = "app_state == 1") -> str:
    table = ", ".join(f'"{n}" = "{u}"' for n, u in targets.items())
    return f"""
[agent]
listen = "127.0.0.1:0"
admin = "127.0.0.1:0"
shutdown_grace = "300ms"

[[targets]]
urls = {{ {table} }}
interval = "300ms"
timeout = "300ms"
ready = ["{ready}"]
rise = 1
fall = 1
"""


def log_lines(agent: AgentProcess) -> list[dict[str, object]]:
    """Every stderr line, each of which must be one JSON object."""
    return [json.loads(line) for line in agent.log_path.read_text().splitlines() if line.strip()]


def reload_ok(agent: AgentProcess) -> float:
    _, body = http_get(f"http://{agent.addresses['http']}/metrics")
    line = next(x for x in body.decode().splitlines() if x.startswith("healthgauge_config_last_reload_successful"))
    return float(line.split()[1])


@pytest.mark.real
def test_sighup_and_ctl_reload_on_a_real_agent_with_json_logs(tmp_path: Path, server: MetricsServer) -> None:
    page = server.url
    with AgentProcess(tmp_path, config({"a": page}), args=("--log-format", "json")) as agent:
        http, admin = agent.addresses["http"], agent.addresses["admin"]
        wait_until(lambda: http_get(f"http://{http}/readyz/a")[0] == 200, timeout=10, what="a ready")
        assert agent.proc is not None
        # SIGHUP with a target added: it is served at once, a keeps its state.
        agent.config_path.write_text(config({"a": page, "b": page}))
        agent.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: http_get(f"http://{http}/readyz/b")[0] == 200, timeout=10, what="b added by SIGHUP")
        assert http_get(f"http://{http}/readyz/a")[0] == 200
        # A broken file: refused, the agent keeps running the previous configuration.
        agent.config_path.write_text(config({"a": page}, ready="app_state =="))
        agent.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: reload_ok(agent) == 0, timeout=10, what="the failed reload in /metrics")
        assert http_get(f"http://{http}/readyz/b")[0] == 200
        ctl = subprocess.run([*CTL, "reload", "--admin", admin], capture_output=True, text=True, timeout=30)
        assert ctl.returncode == 2
        assert "reload refused, still running the previous configuration" in ctl.stderr
        assert 'invalid PromQL "app_state =="' in ctl.stderr
        # Fixed, and b removed, through ctl.
        agent.config_path.write_text(config({"a": page}))
        ctl = subprocess.run([*CTL, "reload", "--admin", admin], capture_output=True, text=True, timeout=30)
        assert ctl.returncode == 0, ctl.stderr
        assert json.loads(ctl.stdout)["removed"] == ["b"]
        assert http_get(f"http://{http}/readyz/b")[0] == 404
        assert reload_ok(agent) == 1
        # A state change is one line with from, to and reason.
        server.page = "# TYPE app_state gauge\napp_state 0\n"
        wait_until(lambda: http_get(f"http://{http}/readyz/a")[0] == 503, timeout=10, what="a not ready")
        started = time.monotonic()
        assert agent.terminate() == 0
        assert time.monotonic() - started < 10
    lines = log_lines(agent)
    messages = [str(line["message"]) for line in lines]
    assert any(m.startswith("started: 1 target(s), listening http ") for m in messages)
    changes = [
        (line["target"], line["from"], line["to"]) for line in lines if line.get("logger") == "healthgauge.agent.state"
    ]
    # In this order (a slow scrape on a busy machine may add a line between them):
    wanted = iter(changes)
    for change in [("a", "unhealthy", "healthy"), ("b", "unhealthy", "healthy"), ("a", "healthy", "unhealthy")]:
        assert change in wanted, changes
    change = [line for line in lines if line.get("target") == "a" and line.get("to") == "unhealthy"][-1]
    assert (change["level"], change["reason"]) == ("warning", "app_state == 1: got 0")
    assert sum(m.startswith("reload failed, still running the previous configuration") for m in messages) == 2
    assert any(m.startswith("configuration reloaded: 1 unchanged, 0 changed, 0 moved, 1 added") for m in messages)
    assert any(m.startswith("draining 1 target(s) for 0.3s") for m in messages)
    assert messages[-1] == "stopped"
