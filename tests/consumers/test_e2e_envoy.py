"""End to end: a real Envoy 1.40 health-checks the agent's ``/health/<target>`` and routes real
requests by it (consumers.md §4, §11 "Envoy").

Sidecar layout: each service (web1, web2) has its own agent process answering for target ``app``;
Envoy's cluster sends traffic to the services and each endpoint's active HTTP check to its agent
(``health_check_config.port_value``). web1 is driven through every level from its metrics page;
web2 stays healthy.
"""

import json
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest

from support.agentproc import AgentProcess
from support.backends import Backend, MetricsTarget
from support.envoy import Envoy, cluster_config
from support.procs import http_get, settled_split

pytestmark = pytest.mark.real

HEALTHY = {"app_state": 1, "queue_depth": 3, "weight_hint": 100}

AGENT = """\
[agent]
listen = "127.0.0.1:0"
admin = "127.0.0.1:0"
shutdown_grace = "300ms"

[[targets]]
name = "app"
url = "{metrics}"
interval = "100ms"
timeout = "90ms"
ready = ["app_state == 1"]
warn = ["queue_depth > 100"]
weight = "weight_hint"
rise = 1
fall = 1
"""

W1, W2 = b"web1\n", b"web2\n"


@dataclass
class Rig:
    web1: Backend
    web2: Backend
    m1: MetricsTarget
    a1: AgentProcess
    envoy: Envoy

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.envoy.listener_port('l')}/"

    def flags(self, want: set[str], *, exact: bool = True) -> set[str]:
        return self.envoy.wait_flags("app", self.web1.port, want, exact=exact)


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    with ExitStack() as stack:
        web1 = stack.enter_context(Backend("web1"))
        web2 = stack.enter_context(Backend("web2"))
        m1 = stack.enter_context(MetricsTarget(**HEALTHY))
        m2 = stack.enter_context(MetricsTarget(**HEALTHY))
        a1 = stack.enter_context(AgentProcess(tmp_path, AGENT.format(metrics=m1.url), name="agent1"))
        a2 = stack.enter_context(AgentProcess(tmp_path, AGENT.format(metrics=m2.url), name="agent2"))
        config = cluster_config(
            endpoints=[(web1.port, a1.port("http")), (web2.port, a2.port("http"))], health_path="/health/app"
        )
        envoy = stack.enter_context(Envoy(tmp_path, config))
        rig = Rig(web1, web2, m1, a1, envoy)
        rig.flags({"healthy"})
        envoy.wait_flags("app", web2.port, {"healthy"})
        yield rig


def share(got: dict[bytes, int], web1: int, *, total: int = 40, tolerance: int = 0) -> bool:
    return set(got) <= {W1, W2} and sum(got.values()) == total and abs(got.get(W1, 0) - web1) <= tolerance


def test_envoy_follows_the_agent_through_every_level(rig: Rig) -> None:
    # Healthy: exactly 200 and no degraded header (a 204 or a header would change Envoy's mind).
    status, body = http_get(f"http://{rig.a1.addresses['http']}/health/app")
    assert (status, json.loads(body)["status"]) == (200, "pass")
    assert share(settled_split(rig.url, 40, ok=lambda g: share(g, 20)), 20)

    # Degraded: 200 + x-envoy-degraded; the degraded host gets only what the healthy one cannot
    # take: about 30% with the default overprovisioning factor 1.4 (§4.2; 13/40 and 16/40 seen).
    rig.m1.set(weight_hint=50, queue_depth=300)
    rig.flags({"degraded_active_hc"})
    assert share(settled_split(rig.url, 40, ok=lambda g: share(g, 12, tolerance=6)), 12, tolerance=6)

    # Overloaded (weight 0, still ready): still degraded to Envoy.
    rig.m1.set(weight_hint=0)
    rig.flags({"degraded_active_hc"})

    # Drained by the operator: 503 with x-envoy-immediate-health-check-fail, out at once.
    rig.m1.set(**HEALTHY)
    rig.flags({"healthy"})
    rig.a1.admin("app", "drain")
    assert {"failed_active_hc", "excluded_via_immediate_hc_fail"} <= rig.flags({"failed_active_hc"}, exact=False)
    assert settled_split(rig.url, 40, ok=lambda g: g == {W2: 40}) == {W2: 40}

    # Unhealthy from its own metrics (after the operator's ready): failed, no traffic.
    rig.m1.set(app_state=0)
    rig.a1.admin("app", "ready")
    rig.flags({"failed_active_hc"}, exact=False)
    assert settled_split(rig.url, 40, ok=lambda g: g == {W2: 40}) == {W2: 40}

    # Recovery: healthy again, even split.
    rig.m1.set(**HEALTHY)
    rig.flags({"healthy"})
    assert share(settled_split(rig.url, 40, ok=lambda g: share(g, 20)), 20)


def test_a_dead_agent_fails_the_host_and_a_restart_brings_it_back(rig: Rig) -> None:
    rig.a1.kill()
    # No answer is a timeout/connect failure: unhealthy after unhealthy_threshold (2) checks.
    rig.flags({"failed_active_hc"}, exact=False)
    assert settled_split(rig.url, 40, ok=lambda g: g == {W2: 40}) == {W2: 40}
    rig.a1.start(rig.a1.pinned_config())
    rig.flags({"healthy"})


def test_the_overloaded_policy_decides_whether_envoy_keeps_the_host(rig: Rig) -> None:
    # overloaded = "warn" (the default): weight 0 is degraded to Envoy, the host stays in.
    rig.m1.set(weight_hint=0)
    rig.flags({"degraded_active_hc"})
    # overloaded = "fail": the same page makes the host unhealthy, and it gets no traffic.
    rig.a1.kill()
    rig.a1.start(rig.a1.pinned_config().replace("fall = 1\n", 'fall = 1\noverloaded = "fail"\n'))
    rig.flags({"failed_active_hc"}, exact=False)
    assert settled_split(rig.url, 40, ok=lambda g: g == {W2: 40}) == {W2: 40}
    # The load passes: back in, healthy.
    rig.m1.set(**HEALTHY)
    rig.flags({"healthy"})
    assert share(settled_split(rig.url, 40, ok=lambda g: share(g, 20)), 20)
