"""The default middleware on real servers (issue #11 item 5): loopback, ephemeral ports, bounded,
every process stopped by pid. The machine is shared, so the bars have generous margins: they catch
the 0.x collapse (7,992 → 11 answers/s, 46 % 503s without overload), not a few percent."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench" / "overload"
SERVICE = Path(__file__).parent / "apps" / "uvicorn_service.py"

pytestmark = [pytest.mark.real, pytest.mark.slow]


class Proc:
    """A server process printing ``READY {json}``; killed by pid on exit."""

    def __init__(self, argv: list[str]) -> None:
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.output: list[str] = []
        self.ready: dict[str, Any] = {}
        assert self.proc.stdout is not None
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline().decode(errors="replace")
            if not line:
                break
            self.output.append(line)
            if line.startswith("READY "):
                self.ready = json.loads(line[6:])
                break
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()

    def _drain(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            self.output.append(raw.decode(errors="replace"))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.ready['http']}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)
        self._reader.join(5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def server(stack: str, handler: str, policy: str) -> Proc:
    argv = [sys.executable, str(BENCH / "real_server.py"), "--stack", stack, "--handler", handler, "--policy", policy]
    proc = Proc(argv)
    assert proc.ready, "".join(proc.output)
    return proc


def load(port: int, mode: str, phases: str) -> dict[str, Any]:
    argv = [sys.executable, str(BENCH / "real_client.py"), "--port", str(port), "--mode", mode, "--phases", phases]
    out = subprocess.run(argv, capture_output=True, timeout=60, check=True)
    phase: dict[str, Any] = json.loads(out.stdout)["phases"][0]
    return phase


def run(stack: str, handler: str, policy: str, mode: str, phases: str) -> dict[str, Any]:
    proc = server(stack, handler, policy)
    try:
        return load(proc.ready["http"], mode, phases)
    finally:
        proc.stop()


@pytest.mark.parametrize(("stack", "conns"), [("httptools", 50), ("h11", 400)])
def test_many_keepalive_connections_without_overload_are_not_shed(stack: str, conns: int) -> None:
    """The issue's cases: 50 clients of a 20-ms ``await`` handler got 46 % 503s, and 400 on h11
    turned 7,992 answers/s into 11. Now: (almost) no 503s and goodput of the order of bare's."""
    bare: list[dict[str, Any]] = []
    protected: list[dict[str, Any]] = []
    for _ in range(2):  # alternate: one pair alone measured 651 against 2,792/s on a busy host
        bare.append(run(stack, "sleep", "none", "closed", f"{conns}:2"))
        protected.append(run(stack, "sleep", "default", "closed", f"{conns}:2"))
    for one in protected:
        assert one["r503"] <= 0.02 * max(1, one["sent"]), one
    ratio = sum(p["goodput"] for p in protected) / max(1e-9, sum(b["goodput"] for b in bare))
    assert ratio >= 0.5, (ratio, protected, bare)  # 0.x: ~0.001-0.9


@pytest.mark.parametrize("stack", ["httptools", "aiohttp"])
def test_a_closed_loop_of_a_cpu_bound_handler_is_not_shed(stack: str) -> None:
    """50 clients each sending the next request when the answer comes, ~3 ms of pure Python per
    request: the loop is ~150 ms late for as long as it runs, but the backlog is bounded by the
    clients and does not grow, so refusing cannot help (before the growth test: 31-100 % 503s)."""
    bare: list[dict[str, Any]] = []
    protected: list[dict[str, Any]] = []
    for _ in range(2):  # alternate: the shared host's share of CPU changes by the second
        bare.append(run(stack, "cpu", "none", "closed", "50:3"))
        protected.append(run(stack, "cpu", "default", "closed", "50:3"))
    for one in protected:
        assert one["r503"] <= 0.01 * max(1, one["sent"]), one
    ratio = sum(p["goodput"] for p in protected) / max(1e-9, sum(b["goodput"] for b in bare))
    assert ratio >= 0.8, (ratio, protected, bare)


@pytest.mark.parametrize("stack", ["aiohttp", "httptools"])
def test_open_loop_at_twice_capacity_keeps_goodput(stack: str) -> None:
    """~3 ms of pure-Python CPU per request at 2× capacity. On an asyncio loop (aiohttp) bare
    collapses (the loop takes the excess in and its queue outgrows the 1 s deadline); the default
    sheds the excess and keeps answering in time. On uvloop (httptools) bare does not collapse:
    its excess times out unread in the kernel's accept queue at no CPU cost, which a 503 cannot
    beat, so the default leaves it there (judging the accept queue is opt-in: docs/overload.md);
    it must then be no worse than nothing. Two runs of the same unshed uvloop server differ by up
    to ~11 % in goodput and timeouts (measured: 263 vs 292/s, 1,096 vs 985 timeouts of ~2,200)."""
    capacity = run(stack, "cpu", "none", "closed", "16:2")["goodput"]
    rate = 2 * capacity
    bare = run(stack, "cpu", "none", "open", f"{rate:.0f}:4")
    protected = run(stack, "cpu", "default", "open", f"{rate:.0f}:4")
    assert protected["goodput"] >= 0.4 * capacity, (protected, capacity)
    if stack == "httptools":
        assert protected["goodput"] >= 0.8 * bare["goodput"], (protected, bare)
        assert protected["timeouts"] <= bare["timeouts"] + 0.15 * protected["sent"], (protected, bare)
        return
    assert protected["goodput"] >= 0.9 * bare["goodput"], (protected, bare)
    # Never worse than nothing. (Shedding lets go after hold_time to test whether the backlog
    # regrows, so requests served during each probe wait longer; 11-32 % timed out with the
    # second round's 1-s pauses, fewer with the release probe, not yet measured often enough to
    # tighten this bound on a loaded host.)
    assert protected["timeouts"] <= max(0.05 * protected["sent"], bare["timeouts"]), (protected, bare)


@pytest.fixture
def service(request: pytest.FixtureRequest) -> Iterator[Proc]:
    loop = getattr(request, "param", "asyncio")
    proc = Proc([sys.executable, str(SERVICE), *(["--uvloop"] if loop == "uvloop" else [])])
    try:
        assert proc.ready, "".join(proc.output)
        yield proc
    finally:
        proc.stop()


def get(url: str, timeout: float = 10) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return resp.status, resp.read().decode()


def test_the_apps_own_metrics_page_shows_both(service: Proc) -> None:
    """0.x's ``metrics_path="/metrics"`` hid the app's /metrics; now the middleware's series join
    the app's registry and its own page serves both."""
    status, text = get(service.url + "/metrics")
    assert status == 200
    assert "app_state 1.0" in text
    assert "healthgauge_overload_limit 1000.0" in text


def test_a_metrics_path_the_app_serves_is_refused_at_startup() -> None:
    proc = Proc([sys.executable, str(SERVICE), "--metrics-path", "/metrics"])
    try:
        assert proc.proc.wait(20) != 0
        proc._reader.join(5)
        text = "".join(proc.output)
        assert not proc.ready
        assert "metrics_path='/metrics' is a route the application serves itself" in text
        assert "Traceback" not in text
    finally:
        proc.stop()


@pytest.mark.parametrize("service", ["asyncio", "uvloop"], indirect=True)
def test_sigterm_drains_within_kubernetes_grace_and_finishes_in_flight_work(service: Proc) -> None:
    """Defaults: 5 s of grace (two agent checks see the drain), then uvicorn's own shutdown; 0.x
    waited 304 s, and every pod ended in SIGKILL at 30 s. On uvloop too (what uvicorn's
    ``loop="auto"`` picks when installed)."""
    statuses: list[int] = []
    slow = threading.Thread(target=lambda: statuses.append(get(service.url + "/work?io=1")[0]))
    slow.start()
    time.sleep(0.3)
    started = time.monotonic()
    service.proc.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    statuses.append(get(service.url + "/work")[0])  # still served during the grace period
    # uvicorn re-raises the signal it captured once its own shutdown is done: -SIGTERM
    assert service.proc.wait(30) in (0, -signal.SIGTERM)
    took = time.monotonic() - started
    slow.join(5)
    assert statuses == [200, 200]
    assert 4.0 <= took <= 5 + 8, took  # the grace, plus a margin for a loaded machine
    assert "draining for 5.0 s" in "".join(service.output)


def test_a_second_sigterm_stops_at_once(service: Proc) -> None:
    service.proc.send_signal(signal.SIGTERM)
    time.sleep(0.5)
    started = time.monotonic()
    service.proc.send_signal(signal.SIGTERM)
    service.proc.wait(15)
    assert time.monotonic() - started <= 4
    service._reader.join(5)
    assert "second signal 15 while draining: stopping now" in "".join(service.output)
