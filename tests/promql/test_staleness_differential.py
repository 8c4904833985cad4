"""Staleness against a real Prometheus: it scrapes a page that loses a series and then fails;
we replay the same scrapes into a History and ask both the same questions at the same instants.

Prometheus decides the scrape times; we read them back (``up[1h]``) with the samples each scrape
stored, so the replay is exact whatever the machine's timing.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from healthgauge._cmd_query import prometheus_data
from healthgauge.promql import History, compile
from healthgauge.testing import MetricsServer
from support.prometheus import Prometheus
from support.promql import S, assert_same

pytestmark = pytest.mark.real

EXPRESSIONS = [
    "x",
    "y",
    "z",
    "count(x)",
    "count_over_time(x[1h])",
    "x offset 1s",
    "absent(y)",
    "last_over_time(x[1h])",
    "timestamp(x)",
    "timestamp(z)",
    "changes(x[1h])",
]


def _wait_scrapes(prom: Prometheus, count: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        data = prom.query("count_over_time(up[1h])")["result"]
        if data and int(data[0]["value"][1]) >= count:
            return
        time.sleep(0.2)
    raise AssertionError(f"prometheus did not reach {count} scrapes in {timeout}s")


def _wait_failing(prom: Prometheus, timeout: float = 30) -> None:
    """Until the last two scrapes failed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        values = prom.query("up[1h]")["result"][0]["values"]
        if [v for _, v in values[-2:]] == ["0", "0"]:
            return
        time.sleep(0.2)
    raise AssertionError(f"the last scrapes did not fail within {timeout}s")


@pytest.fixture(scope="module")
def scraped(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Prometheus, float]]:
    workdir: Path = tmp_path_factory.mktemp("staleness")
    z_ms = int(time.time() * 1000)
    both = f'x{{a="1"}} 1\nx{{a="2"}} 2\ny 5\nz 7 {z_ms}\n'
    with MetricsServer(both) as server:
        config = (
            "global: {scrape_interval: 1s, scrape_timeout: 800ms}\n"
            "scrape_configs:\n"
            f"  - job_name: t\n    static_configs: [{{targets: ['127.0.0.1:{server.port}']}}]\n"
        )
        with Prometheus(workdir, config=config) as prom:
            _wait_scrapes(prom, 3)
            server.page = 'x{a="1"} 10\nz 7 ' + str(z_ms) + "\n"  # x{a="2"} and y vanish
            _wait_scrapes(prom, 6)
            server.status = 500
            server.page = "down\n"  # rebuilds the response with the new status
            _wait_scrapes(prom, 8)
            server.status = 200
            server.page = both
            _wait_scrapes(prom, 11)
            # End failing, so that scrapes Prometheus goes on making while the test compares cannot
            # change any answer: x and y are stale from the first failure on, z never is.
            server.status = 500
            server.page = "down\n"
            _wait_failing(prom)
            yield prom, z_ms / 1000


def _replay(prom: Prometheus, end: float) -> tuple[History, list[float]]:
    ups = prom.query("up[1h]", at=end)["result"][0]["values"]
    stored = prom.query('{__name__=~"x|y"}[1h]', at=end)["result"]
    by_time: dict[float, list[S]] = {}
    for series in stored:
        labels = dict(series["metric"])
        name = labels.pop("__name__")
        for t, v in series["values"]:
            by_time.setdefault(float(t), []).append(S(name, float(v), None, **labels))
    z = prom.query("z[1h]", at=end)["result"][0]
    z_labels = dict(z["metric"])
    z_labels.pop("__name__")
    z_time, z_value = float(z["values"][0][0]), float(z["values"][0][1])
    store = History(retention=3600)
    times = []
    for t, up in ups:
        t = float(t)
        times.append(t)
        if up == "1":
            store.add_scrape([*by_time.get(t, []), S("z", z_value, z_time, **z_labels)], t)
        else:
            store.add_failed_scrape(t)
    return store, times


def test_staleness_matches_prometheus(scraped: tuple[Prometheus, float]) -> None:
    prom, z_time = scraped
    end = float(prom.query("time()")["result"][0])
    store, times = _replay(prom, end)
    assert len(times) >= 11
    up = [float(v) for _, v in prom.query("up[1h]", at=end)["result"][0]["values"]]
    assert 0.0 in up[:-2], "a failed scrape between successful ones must be in the history"
    assert up[-2:] == [0.0, 0.0]
    # Every scrape, between scrapes, and the edges of z's lookback (x and y end stale; z, with its
    # own timestamp, is never marked stale and fades only after 5 minutes).
    instants = sorted({*times, *(t + 0.5 for t in times), z_time + 299.999, z_time + 300, z_time + 300.001})
    for expr in EXPRESSIONS:
        compiled = compile(expr)
        for at in instants:
            assert_same(prometheus_data(compiled.evaluate(store, at)), prom.query(expr, at=at), expr, at)
