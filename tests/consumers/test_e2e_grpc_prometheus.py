"""End to end with a real agent process: a grpcio client's Watch and Check over ``grpc_listen``,
and a real Prometheus 2.42 scraping the agent's own /metrics (consumers.md §5, §11)."""

import queue
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.agentproc import AgentProcess
from support.backends import MetricsTarget
from support.procs import wait_until
from support.prometheus import Prometheus

pytestmark = pytest.mark.real

AGENT = """\
[agent]
listen = "127.0.0.1:0"
admin = "127.0.0.1:0"
{extra}
shutdown_grace = "300ms"

[[targets]]
urls = {{ web = "{m1}", db = "{m2}" }}
interval = "100ms"
timeout = "90ms"
ready = ["app_state == 1"]
weight = "weight_hint"
rise = 1
fall = 1
"""


@pytest.fixture
def metrics() -> Iterator[tuple[MetricsTarget, MetricsTarget]]:
    with MetricsTarget(app_state=1, weight_hint=100) as m1, MetricsTarget(app_state=1, weight_hint=100) as m2:
        yield m1, m2


def test_grpc_watch_follows_a_target_and_unknown_names_are_not_found(
    tmp_path: Path, metrics: tuple[MetricsTarget, MetricsTarget]
) -> None:
    grpc = pytest.importorskip("grpc")
    health_pb2 = pytest.importorskip("grpc_health.v1.health_pb2")
    health_pb2_grpc = pytest.importorskip("grpc_health.v1.health_pb2_grpc")
    m1, m2 = metrics
    config = AGENT.format(extra='grpc_listen = "127.0.0.1:0"', m1=m1.url, m2=m2.url)
    with AgentProcess(tmp_path, config) as agent, grpc.insecure_channel(agent.addresses["grpc_listen"]) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        serving = health_pb2.HealthCheckResponse.SERVING
        not_serving = health_pb2.HealthCheckResponse.NOT_SERVING

        def check(name: str) -> int:
            return int(stub.Check(health_pb2.HealthCheckRequest(service=name), timeout=2).status)

        wait_until(lambda: check("web") == serving, timeout=10, what="web SERVING")
        with pytest.raises(grpc.RpcError) as err:
            check("nope")
        assert err.value.code() == grpc.StatusCode.NOT_FOUND

        # Watch in a thread, as a client would; every read is bounded by the stream's deadline.
        events: queue.Queue[int] = queue.Queue()
        stream = stub.Watch(health_pb2.HealthCheckRequest(service="web"), timeout=30)

        def consume() -> None:
            try:
                for reply in stream:
                    events.put(int(reply.status))
            except grpc.RpcError:
                pass

        reader = threading.Thread(target=consume, daemon=True)
        reader.start()
        try:
            seen = [events.get(timeout=5)]
            m1.set(app_state=0)
            seen.append(events.get(timeout=5))
            assert check("web.live") == serving  # not ready is not dead
            m1.set(app_state=1)
            seen.append(events.get(timeout=5))
            assert seen == [serving, not_serving, serving]
        finally:
            stream.cancel()
            reader.join(timeout=5)

        # SIGTERM: during the drain every name is NOT_SERVING.
        assert agent.proc is not None
        agent.proc.terminate()
        wait_until(lambda: check("web.live") == not_serving, timeout=5, what="NOT_SERVING while draining")
        assert agent.terminate() == 0


def test_prometheus_scrapes_the_agent_and_reads_each_targets_weight(
    tmp_path: Path, metrics: tuple[MetricsTarget, MetricsTarget]
) -> None:
    m1, m2 = metrics
    m1.set(weight_hint=37)
    with AgentProcess(tmp_path, AGENT.format(extra="", m1=m1.url, m2=m2.url)) as agent:
        scrape = f"""\
global:
  scrape_interval: 1s
  scrape_timeout: 500ms
scrape_configs:
  - job_name: healthgauge
    static_configs:
      - targets: ["{agent.addresses["http"]}"]
"""
        with Prometheus(tmp_path, config=scrape) as prom:

            def up() -> bool:
                result = prom.query('up{job="healthgauge"}')["result"]
                return bool(result) and result[0]["value"][1] == "1"

            wait_until(up, timeout=20, interval=0.2, what="prometheus scraped the agent")
            targets = prom.api("targets")["data"]["activeTargets"]
            assert [(t["health"], t["lastError"]) for t in targets] == [("up", "")]

            def weights() -> dict[str, str]:
                result = prom.query("healthgauge_target_weight")["result"]
                return {r["metric"]["target"]: r["value"][1] for r in result}

            wait_until(lambda: weights() == {"web": "37", "db": "100"}, timeout=20, interval=0.2, what="weights")
            m2.set(weight_hint=5)
            wait_until(lambda: weights() == {"web": "37", "db": "5"}, timeout=20, interval=0.2, what="new weight")
