"""``healthgauge broker``: the command line, a refused configuration (exit 3, naming the key),
``--check``, SIGTERM's drain and SIGHUP's reload on a real process."""

from __future__ import annotations

import http.client
import signal
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest

from healthgauge.cli import main
from support.brokers import Proc, broker, broker_config, metrics, worker
from support.procs import wait_until

EXTRA = 'timeout = "10s"\ndrain_grace = "5s"\n[queues.interactive]\ncapacity = 4\nmax_wait = "8s"\n'


def test_a_bad_config_is_refused_naming_the_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "broker.toml"
    path.write_text('listen = "127.0.0.1:0"\n[[workers]]\nurl = "http://127.0.0.1:1"\nmax_inflight = "four"\n')
    assert main(["broker", "--config", str(path)]) == 3
    assert "workers[0].max_inflight" in capsys.readouterr().err
    assert main(["broker", "--config", str(path), "--check"]) == 3
    assert main(["broker", "--config", str(tmp_path / "missing.toml")]) == 3
    assert "cannot read" in capsys.readouterr().err
    assert main(["broker"]) == 3


def test_check_accepts_a_good_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "broker.toml"
    path.write_text(broker_config({"w": 1}))
    assert main(["broker", "--config", str(path), "--check"]) == 0
    assert "ok (1 workers" in capsys.readouterr().out


def test_the_example_config_is_valid() -> None:
    example = Path(__file__).resolve().parents[2] / "examples" / "broker" / "broker.toml"
    assert main(["broker", "--config", str(example), "--check"]) == 0


def get(port: int, path: str, timeout: float = 15.0) -> tuple[int, dict[str, str], float]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    start = time.monotonic()
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        resp.read()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, time.monotonic() - start
    finally:
        conn.close()


@pytest.fixture
def pool() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(8) as executor:
        yield executor


def queue_length(b: Proc) -> float:
    return metrics(b.ports["admin"]).get('healthgauge_broker_queue_length{queue="interactive"}', 0.0)


Reply = tuple[int, dict[str, str], float]


def busy_and_queued(pool: ThreadPoolExecutor, b: Proc, seconds: float) -> tuple[Future[Reply], Future[Reply]]:
    held = pool.submit(get, b.ports["proxy"], f"/sleep?s={seconds}")
    wait_until(lambda: metrics(b.ports["admin"]).get('healthgauge_broker_worker_inflight{worker="w1"}') == 1, timeout=5)
    queued = pool.submit(get, b.ports["proxy"], "/img/q")
    wait_until(lambda: queue_length(b) == 1, timeout=5, what="a queued request")
    return held, queued


@pytest.mark.real
@pytest.mark.timeout(60)
def test_sigterm_hands_back_the_queue_and_finishes_in_flight(tmp_path: Path, pool: ThreadPoolExecutor) -> None:
    with worker(tmp_path, "w1", "--limit", "1", "--cores", "1") as w1:
        config = broker_config({"w1": w1.ports["http"]}, extra=EXTRA, worker_extra="max_inflight = 1")
        with broker(tmp_path, "b", config) as b:
            held, queued = busy_and_queued(pool, b, 1.5)
            b.signal(signal.SIGTERM)
            status, headers, _ = queued.result()
            assert status == 503
            assert headers["retry-after"] == "1"
            assert headers["connection"] == "close"
            assert held.result()[0] == 200, "the request in flight was finished"
            assert b.wait(timeout=10) == 0


@pytest.mark.real
@pytest.mark.timeout(60)
def test_sighup_reloads_and_keeps_the_queue(tmp_path: Path, pool: ThreadPoolExecutor) -> None:
    with worker(tmp_path, "w1", "--limit", "1", "--cores", "1") as w1, worker(tmp_path, "w2") as w2:
        config = broker_config({"w1": w1.ports["http"]}, extra=EXTRA, worker_extra="max_inflight = 1")
        with broker(tmp_path, "b", config) as b:
            held, queued = busy_and_queued(pool, b, 3.0)
            path = tmp_path / "b.toml"
            path.write_text("listen = ")  # a broken config: refused, the running one stays
            b.signal(signal.SIGHUP)
            time.sleep(0.3)
            assert queue_length(b) == 1
            both = {"w1": w1.ports["http"], "w2": w2.ports["http"]}
            path.write_text(broker_config(both, extra=EXTRA, worker_extra="max_inflight = 1"))
            b.signal(signal.SIGHUP)
            status, headers, elapsed = queued.result()
            assert status == 200
            assert headers["healthgauge-worker"] == "w2"
            assert elapsed < 2.5, "the queued request went to the new worker, not after the held one"
            assert held.result()[0] == 200
            assert "reload refused" in b.log()
