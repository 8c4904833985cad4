"""The broker as deployed: a real HAProxy in front of 2 broker replicas, 4 worker processes running
the overload middleware behind them, all on loopback (issue #17's proof).

Each worker admits one request at a time (``--limit 1``) and refuses the rest with 503, while each
broker believes it may send a worker two: so the brokers meet refusals, queue, and learn. Requests
pick their worker through the affinity key: ``/img/KEY`` or a ``Healthgauge-Affinity`` header, and
:func:`key_for` finds a key whose home is a given worker. The tests run in file order; the last
one kills a worker.
"""

from __future__ import annotations

import http.client
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from healthgauge.broker import rendezvous_order
from support.brokers import Proc, broker, broker_config, metrics, rss, rss_peak, stop_all, worker
from support.haproxy import HAProxy
from support.procs import wait_until

pytestmark = [pytest.mark.real, pytest.mark.timeout(120)]

NAMES = ["w0", "w1", "w2", "w3"]

BROKER_EXTRA = """\
timeout = "10s"
drain_grace = "3s"
[affinity]
path_segment = 2
[queues.interactive]
capacity = 2
max_wait = "5s"
"""

HAPROXY = """\
global
    stats socket {sock} mode 600 level admin
    stats timeout 30s
defaults
    mode http
    timeout connect 1s
    timeout client 15s
    timeout server 15s
frontend fe
    bind 127.0.0.1:{fe_port}
    use_backend brokers_b0_first if {{ req.hdr(x-test) -m str b0-first }}
    default_backend brokers
backend brokers
    balance roundrobin
    retries 3
    retry-on 503 conn-failure empty-response
    option redispatch 1
    option httpchk GET /readyz
    default-server check inter 500ms agent-check agent-inter 500ms
    server b0 127.0.0.1:{b0} port {b0_admin} agent-port {b0_agent}
    server b1 127.0.0.1:{b1} port {b1_admin} agent-port {b1_agent}
# The same replicas, b0 always asked first (the retry test: roundrobin would follow the agent's
# weights, which steer traffic away from a broker whose queues fill, before any 503).
backend brokers_b0_first
    balance first
    retries 3
    retry-on 503 conn-failure empty-response
    option redispatch 1
    server b0 127.0.0.1:{b0}
    server b1 127.0.0.1:{b1}
"""


def key_for(name: str, salt: str = "") -> str:
    """A key whose rendezvous home among the four workers is ``name``."""
    for i in range(1000):
        key = f"k{salt}{i}"
        if rendezvous_order(key, NAMES)[0] == name:
            return key
    raise AssertionError(f"no key for {name}")


@dataclass
class Cluster:
    workers: dict[str, Proc]
    brokers: list[Proc]
    hap: HAProxy
    pool: ThreadPoolExecutor = field(default_factory=lambda: ThreadPoolExecutor(16))

    def port(self, b: int) -> int:
        return self.brokers[b].ports["proxy"]

    def metrics(self, b: int) -> dict[str, float]:
        return metrics(self.brokers[b].ports["admin"])

    def get(self, port: int, path: str, headers: dict[str, str] | None = None, timeout: float = 15.0) -> Answer:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        try:
            start = time.monotonic()
            conn.request("GET", path, headers=headers or {})
            resp = conn.getresponse()
            body = resp.read()
            return Answer(resp.status, {k.lower(): v for k, v in resp.getheaders()}, body, time.monotonic() - start)
        finally:
            conn.close()

    def hold(self, b: int, name: str, seconds: float) -> Future[Answer]:
        """Keep worker ``name`` busy for ``seconds`` with a request through broker ``b``."""
        headers = {"Healthgauge-Affinity": key_for(name, "hold")}
        fut = self.pool.submit(self.get, self.port(b), f"/sleep?s={seconds}", headers)
        wait_until(lambda: self.inflight(b, name) >= 1 or fut.done(), timeout=5, what=f"{name} busy")
        return fut

    def inflight(self, b: int, name: str) -> float:
        return self.metrics(b).get(f'healthgauge_broker_worker_inflight{{worker="{name}"}}', 0.0)


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    elapsed: float


def m(metrics: dict[str, float], name: str, **labels: str) -> float:
    inner = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    return metrics.get(f"healthgauge_broker_{name}{{{inner}}}" if labels else f"healthgauge_broker_{name}", 0.0)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    workdir: Path = tmp_path_factory.mktemp("broker-cluster")
    started: list[Proc] = []
    try:
        workers = {}
        for name in NAMES:
            proc = worker(workdir, name, "--limit", "1", "--cores", "1", "--cheap-ms", "1")
            started.append(proc)
            proc.start()
            workers[name] = proc
        config = broker_config(
            {n: p.ports["http"] for n, p in workers.items()}, extra=BROKER_EXTRA, worker_extra="max_inflight = 2"
        )
        brokers = []
        for i in range(2):
            proc = broker(workdir, f"b{i}", config)
            started.append(proc)
            proc.start()
            brokers.append(proc)
        fields = {}
        for i, b in enumerate(brokers):
            fields |= {f"b{i}": b.ports["proxy"], f"b{i}_admin": b.ports["admin"]}
            fields[f"b{i}_agent"] = b.ports["agent_check"]
        with HAProxy(workdir, HAPROXY, **fields) as hap:
            for i in range(2):
                hap.wait_server("brokers", f"b{i}", status="UP", timeout=10)
            cluster = Cluster(workers, brokers, hap)
            try:
                yield cluster
            finally:
                cluster.pool.shutdown(wait=True, cancel_futures=True)
    finally:
        stop_all(started)


def test_affinity_is_kept_across_requests_and_replicas(cluster: Cluster) -> None:
    key = key_for("w2")
    before = [m(cluster.metrics(b), "affinity_total", result="home") for b in (0, 1)]
    answers = [cluster.get(cluster.hap.fe_port, f"/img/{key}") for _ in range(8)]
    assert [a.status for a in answers] == [200] * 8
    assert {a.headers["healthgauge-worker"] for a in answers} == {"w2"}
    assert [a.headers["x-cache"] for a in answers][1:] == ["hit"] * 7
    after = [m(cluster.metrics(b), "affinity_total", result="home") for b in (0, 1)]
    assert after[0] > before[0], "HAProxy spread them over both replicas"
    assert after[1] > before[1], "HAProxy spread them over both replicas"
    assert sum(after) - sum(before) == 8


def test_a_refusal_sends_the_request_to_the_next_worker(cluster: Cluster) -> None:
    before = cluster.metrics(0)
    hold = cluster.hold(0, "w0", 1.0)
    answer = cluster.get(cluster.port(0), f"/img/{key_for('w0')}")
    assert answer.status == 200
    assert answer.headers["healthgauge-worker"] != "w0"
    after = cluster.metrics(0)
    refusals = [m(x, "refusals_total", worker="w0", reason="shed") for x in (before, after)]
    assert refusals[1] > refusals[0]
    assert m(after, "affinity_total", result="miss") > m(before, "affinity_total", result="miss")
    assert m(after, "dispatch_attempts_total", worker="w0") >= m(before, "dispatch_attempts_total", worker="w0") + 2
    assert hold.result().status == 200


def test_when_all_refuse_it_waits_and_a_freed_worker_takes_it(cluster: Cluster) -> None:
    holds = [cluster.hold(0, name, 2.5) for name in NAMES]
    queued = cluster.pool.submit(cluster.get, cluster.port(0), "/img/queued")
    seen: dict[str, float] = {}

    def waiting() -> bool:
        seen.update(cluster.metrics(0))
        return m(seen, "queue_length", queue="interactive") == 1 or queued.done()

    wait_until(waiting, timeout=5, what="the request queued")
    assert m(seen, "queue_length", queue="interactive") == 1
    assert m(seen, "queue_oldest_age_seconds", queue="interactive") >= 0
    answer = queued.result()
    assert answer.status == 200
    assert answer.elapsed > 0.3, "it waited for a worker"
    assert [h.result().status for h in holds] == [200] * 4
    wait_until(lambda: m(cluster.metrics(0), "queue_length", queue="interactive") == 0, timeout=5)


def test_full_queues_answer_503_and_haproxy_retries_on_the_other_replica(cluster: Cluster) -> None:
    holds = [cluster.hold(0, name, 6.0) for name in NAMES]  # longer than a loaded machine takes to fill and probe
    waiting = [cluster.pool.submit(cluster.get, cluster.port(0), f"/img/q{i}") for i in range(2)]
    wait_until(lambda: m(cluster.metrics(0), "queue_length", queue="interactive") == 2, timeout=5, what="queue full")
    before = cluster.metrics(0)
    full = cluster.get(cluster.port(0), "/img/full")
    assert full.status == 503
    assert full.headers["retry-after"] == "1"
    assert full.headers["healthgauge-overload"] == "shed"
    assert (
        m(cluster.metrics(0), "rejections_total", reason="queue_full")
        == m(before, "rejections_total", reason="queue_full") + 1
    )
    rejected = m(cluster.metrics(0), "rejections_total", reason="queue_full")
    served = m(cluster.metrics(1), "requests_total", **{"class": "interactive"})
    first = {"X-Test": "b0-first"}
    via_haproxy = [cluster.pool.submit(cluster.get, cluster.hap.fe_port, f"/img/h{i}", first) for i in range(2)]
    assert [f.result().status for f in via_haproxy] == [200, 200]
    assert m(cluster.metrics(0), "rejections_total", reason="queue_full") >= rejected + 2, "b0 said 503 first"
    assert m(cluster.metrics(1), "requests_total", **{"class": "interactive"}) >= served + 2, "b1 served the retries"
    stat = cluster.hap.show_stat()[("brokers_b0_first", "b0")]
    assert int(stat["wretr"] or 0) + int(stat["wredis"] or 0) >= 2, stat
    assert [f.result().status for f in waiting + holds] == [200] * 6


def test_a_client_that_goes_away_while_queued_leaves_the_queue(cluster: Cluster) -> None:
    holds = [cluster.hold(1, name, 2.5) for name in NAMES]
    before = m(cluster.metrics(1), "cancelled_total", where="queued")
    with socket.create_connection(("127.0.0.1", cluster.port(1)), timeout=5) as sock:
        sock.sendall(b"GET /img/gone HTTP/1.1\r\nHost: x\r\n\r\n")
        wait_until(lambda: m(cluster.metrics(1), "queue_length", queue="interactive") == 1, timeout=5)
    wait_until(lambda: m(cluster.metrics(1), "cancelled_total", where="queued") == before + 1, timeout=5)
    assert m(cluster.metrics(1), "queue_length", queue="interactive") == 0
    assert [h.result().status for h in holds] == [200] * 4


def test_a_hung_worker_meets_the_deadline_and_is_avoided(cluster: Cluster) -> None:
    import signal

    key = key_for("w1")
    before = cluster.metrics(1)
    cluster.workers["w1"].signal(signal.SIGSTOP)
    try:
        answer = cluster.get(cluster.port(1), f"/img/{key}", {"Healthgauge-Timeout": "800"})
        assert answer.status == 504
        assert 0.6 < answer.elapsed < 5
        after = cluster.metrics(1)
        assert (
            m(after, "worker_errors_total", worker="w1", kind="timeout")
            == m(before, "worker_errors_total", worker="w1", kind="timeout") + 1
        )
        assert m(after, "worker_up", worker="w1") == 0
        other = cluster.get(cluster.port(1), f"/img/{key}")
        assert other.status == 200
        assert other.headers["healthgauge-worker"] != "w1"
    finally:
        cluster.workers["w1"].signal(signal.SIGCONT)


def test_a_50mb_response_streams_through_with_bounded_memory(cluster: Cluster) -> None:
    pid = cluster.brokers[0].pid
    base = max(rss_peak(pid), rss(pid))
    total = 0
    with socket.create_connection(("127.0.0.1", cluster.port(0)), timeout=10) as sock:
        sock.sendall(b"GET /big?mb=50 HTTP/1.1\r\nHost: x\r\n\r\n")
        start = time.monotonic()
        while chunk := sock.recv(256 * 1024):
            total += len(chunk)
            if total >= 50 * 1024 * 1024:
                break
            time.sleep(0.002)  # a client slower than the worker: the broker must hold back, not buffer
        elapsed = time.monotonic() - start
    head_size = total - 50 * 1024 * 1024
    assert 0 < head_size < 1024, f"read {total} bytes"
    grown = rss_peak(pid) - base
    assert grown < 16 * 1024 * 1024, f"the broker grew {grown / 2**20:.1f} MiB for a 50 MiB body in {elapsed:.1f}s"


def test_a_client_that_goes_away_while_its_request_runs_frees_the_worker(cluster: Cluster) -> None:
    before = m(cluster.metrics(0), "cancelled_total", where="worker")
    key = key_for("w2", "gone")
    with socket.create_connection(("127.0.0.1", cluster.port(0)), timeout=5) as sock:
        sock.sendall(f"GET /sleep?s=3 HTTP/1.1\r\nHost: x\r\nHealthgauge-Affinity: {key}\r\n\r\n".encode())
        wait_until(lambda: cluster.inflight(0, "w2") == 1, timeout=5, what="the request at w2")
    wait_until(lambda: m(cluster.metrics(0), "cancelled_total", where="worker") == before + 1, timeout=5)
    assert cluster.inflight(0, "w2") == 0
    answer = cluster.get(cluster.port(0), f"/img/{key_for('w2')}")
    assert answer.status == 200, "w2 is free again (its handler was cancelled with the connection)"
    assert answer.headers["healthgauge-worker"] == "w2"


def test_a_large_request_body_streams_to_one_worker(cluster: Cluster) -> None:
    body = bytes(range(256)) * (12 * 1024)  # 3 MiB, over retry_body (1 MiB): streamed, not kept
    conn = http.client.HTTPConnection("127.0.0.1", cluster.port(1), timeout=15)
    try:
        conn.request("POST", "/echo", body=body)
        resp = conn.getresponse()
        text = resp.read().decode()
    finally:
        conn.close()
    assert resp.status == 200
    assert text.split()[0] == str(len(body))
    assert text.split()[1] == str(sum(body) % 1_000_003)
    chunked = http.client.HTTPConnection("127.0.0.1", cluster.port(1), timeout=15)
    try:
        chunked.request("POST", "/echo", body=iter([body[:100_000], body[100_000:]]), encode_chunked=True)
        resp = chunked.getresponse()
        assert resp.status == 200
        assert resp.read().decode().split()[0] == str(len(body))
    finally:
        chunked.close()


def test_every_metric_named_in_the_issue_is_exported_and_moved(cluster: Cluster) -> None:
    got = cluster.metrics(0)
    for family in ("queue_length", "queue_oldest_age_seconds", "worker_load", "worker_up", "worker_inflight"):
        assert any(k.startswith(f"healthgauge_broker_{family}{{") for k in got), family
    moved = ("dispatch_attempts_total", "refusals_total", "rejections_total", "affinity_total", "requests_total")
    for family in moved:
        assert sum(v for k, v in got.items() if k.startswith(f"healthgauge_broker_{family}{{")) > 0, family
    assert any(v < 100 for k, v in got.items() if k.startswith("healthgauge_broker_worker_load{"))


def test_a_worker_killed_mid_request_is_retried_elsewhere(cluster: Cluster) -> None:
    before = cluster.metrics(1)
    fut = cluster.hold(1, "w3", 1.0)
    cluster.workers["w3"].kill()
    answer = fut.result()
    assert answer.status == 200, answer
    assert answer.headers["healthgauge-worker"] != "w3"
    after = cluster.metrics(1)
    errors = sum(v for k, v in after.items() if "worker_errors_total" in k and 'worker="w3"' in k)
    errors_before = sum(v for k, v in before.items() if "worker_errors_total" in k and 'worker="w3"' in k)
    assert errors > errors_before
    threading.Event().wait(0.1)
    answers = [cluster.get(cluster.hap.fe_port, f"/img/{key_for('w3')}") for _ in range(4)]
    assert [a.status for a in answers] == [200] * 4
    assert "w3" not in {a.headers["healthgauge-worker"] for a in answers}
