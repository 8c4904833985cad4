"""Kubernetes and Consul, emulated as their own code reads an answer, against a real agent process
driven through all six levels from a real metrics page (consumers.md §6.4, §7.5, §10, §11).

No kubelet or Consul binary exists for tests; the emulators send what they send (headers,
``Connection: close``, the deadline) and judge as they judge (kubelet: 200-399 passes; Consul's
HTTP check: 2xx passing, 429 warning, anything else critical).
"""

import http.client
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.agentproc import AgentProcess
from support.backends import MetricsTarget
from support.procs import wait_until

pytestmark = pytest.mark.real

HEALTHY = {"app_alive": 1, "app_state": 1, "queue_depth": 3, "weight_hint": 100}

AGENT = """\
[agent]
listen = "127.0.0.1:0"
admin = "127.0.0.1:0"
shutdown_grace = "200ms"

[[targets]]
name = "app"
url = "{metrics}"
interval = "100ms"
timeout = "90ms"
live = ["app_alive == 1"]
ready = ["app_state == 1"]
warn = ["queue_depth > 100"]
weight = "weight_hint"
rise = 1
fall = 1
live_fall = 1
"""


def get(address: str, path: str, headers: dict[str, str], *, limit: int) -> tuple[int, dict[str, str], bytes, float]:
    host, port = address.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=1.0)
    start = time.monotonic()
    try:
        conn.request("GET", path, headers=headers)
        resp = conn.getresponse()
        body = resp.read(limit)
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, body, time.monotonic() - start
    finally:
        conn.close()


def kubelet(address: str, path: str) -> bool:
    """httpGet as the kubelet runs it: its headers, no keep-alive, 1 s, at most 10 KB read."""
    headers = {"User-Agent": "kube-probe/1.30", "Accept": "*/*", "Connection": "close"}
    status, got, _, took = get(address, path, headers, limit=10 * 1024)
    assert took < 1.0
    assert "location" not in got  # no health path redirects
    return 200 <= status < 400


def consul(address: str, path: str) -> tuple[str, bytes]:
    """Consul's HTTP check: 2xx passing, 429 warning, else critical; keeps 4 KB of output."""
    headers = {"User-Agent": "Consul Health Check", "Accept": "text/plain, text/*, */*", "Connection": "close"}
    status, _, body, _ = get(address, path, headers, limit=4096)
    return ("passing" if 200 <= status < 300 else "warning" if status == 429 else "critical"), body


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[tuple[MetricsTarget, AgentProcess]]:
    with MetricsTarget(**HEALTHY) as m, AgentProcess(tmp_path, AGENT.format(metrics=m.url)) as agent:
        yield m, agent


# level -> (page changes, admin word, readiness passes, liveness passes, Consul status, reason text)
LEVELS = [
    ("healthy", {}, "ready", True, True, "passing", ""),
    ("degraded", {"queue_depth": 300}, "ready", True, True, "warning", "queue_depth > 100"),
    ("overloaded", {"weight_hint": 0}, "ready", True, True, "warning", "weight"),
    ("draining", {}, "drain", False, True, "critical", "drain"),
    ("unhealthy", {"app_state": 0}, "ready", False, True, "critical", "app_state == 1"),
    ("dead", {"app_alive": 0}, "ready", False, False, "critical", "app_alive == 1"),
]


def test_kubelet_and_consul_read_every_level(rig: tuple[MetricsTarget, AgentProcess]) -> None:
    m, agent = rig
    address = agent.addresses["http"]
    for level, changes, admin, ready, live, status, reason in LEVELS:
        m.set(**{**HEALTHY, **changes})
        agent.admin("app", admin)
        wait_until(lambda level=level: agent.state("app")["level"] == level, timeout=5, what=f"level {level}")
        assert kubelet(address, "/readyz/app") is ready, level
        assert kubelet(address, "/livez/app") is live, level
        got, body = consul(address, "/health/app?consul")
        assert got == status, level
        assert reason.encode() in body, (level, body[:300])
    # And back: the operator's ready and a good page make everything pass again.
    m.set(**HEALTHY)
    agent.admin("app", "ready")
    wait_until(lambda: kubelet(address, "/readyz/app"), timeout=5, what="ready again")
    assert consul(address, "/health/app?consul")[0] == "passing"
