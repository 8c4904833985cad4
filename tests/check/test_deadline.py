"""``--timeout`` is one deadline over the whole check: connect, read, gzip decoding, parsing and
evaluation, on the quick path and the full path alike (a legitimate 16 MB page of 200k series took
1.5-1.75 s to judge before it covered more than the fetch).

The pages here are legitimate and served at loopback speed, so the fetch ends long before the
deadline and what runs into it is the work after. Bounds are generous (a shared 2-core machine).
"""

from __future__ import annotations

import gzip
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from healthgauge._check import _deadline
from healthgauge._check._command import main
from healthgauge.http import _http11
from healthgauge.http._http11 import decode_body
from healthgauge.testing import MetricsServer

LAUNCHER = Path(sys.prefix) / "bin" / "healthgauge"
# 150k series of the metric the condition reads (3.5 MB): about a second of parsing and judging.
BIG = "".join(f'app_state{{instance="host-{i:06d}",job="worker"}} 1\n' for i in range(150_000))
TIMEOUT = 0.2
SLACK = 1.5  # what the machine may add to a deadline's own time, at worst, when shared
DEADLINE_WORDS = ("deadline passed (parsing the page)", "deadline passed (evaluating the conditions)")


@pytest.fixture(scope="module")
def big() -> MetricsServer:
    with MetricsServer(BIG) as server:
        yield server  # type: ignore[misc]


def test_the_full_path_stops_parsing_at_the_deadline(big: MetricsServer, capsys: pytest.CaptureFixture[str]) -> None:
    started = time.monotonic()
    code = main([big.url, "app_state > 0", "--warn", "absent(up)", "--timeout", str(TIMEOUT), "--json"])
    took = time.monotonic() - started
    out = json.loads(capsys.readouterr().out)
    assert code == 2
    assert out["error"]["kind"] == "deadline"
    assert took < TIMEOUT + SLACK
    if "read body" not in out["error"]["message"]:  # the machine can be slow enough to miss the read
        assert out["error"]["message"].endswith(DEADLINE_WORDS), out


def test_without_the_deadline_such_a_page_is_judged(capsys: pytest.CaptureFixture[str]) -> None:
    with MetricsServer(BIG[: len(BIG) // 50]) as server:
        assert main([server.url, "app_state > 0", "--timeout", "60"]) == 0
    assert capsys.readouterr().out.startswith("OK - 1 condition holds")


def test_the_quick_path_stops_parsing_at_the_deadline(big: MetricsServer) -> None:
    if not LAUNCHER.exists():
        pytest.skip("the package is not installed into this interpreter's prefix")
    started = time.monotonic()
    out = subprocess.run(
        [str(LAUNCHER), "check", big.url, "app_state > 0", "--timeout", str(TIMEOUT)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    took = time.monotonic() - started
    assert out.returncode == 2, out.stdout
    assert out.stdout.startswith(f"FAIL - cannot read {big.url}: deadline passed"), out.stdout
    assert took < TIMEOUT + SLACK + 1.5  # plus an interpreter's start, on a loaded machine


def test_many_empty_gzip_members_are_cut_off_at_the_deadline(capsys: pytest.CaptureFixture[str]) -> None:
    body = gzip.compress(b"") * 600_000  # 12 MB of members that decode to nothing
    with MetricsServer(body, headers=[("Content-Encoding", "gzip")]) as server:
        started = time.monotonic()
        code = main([server.url, "app_state == 1", "--timeout", "0.5", "--json"])
        took = time.monotonic() - started
    out = json.loads(capsys.readouterr().out)
    assert code == 2
    # Refused at once past the gzip member cap (http/_http11.py, MAX_GZIP_MEMBERS), or cut at the deadline.
    assert out["error"]["kind"] in ("protocol", "deadline")
    assert took < 0.5 + SLACK


def test_gzip_decoding_is_linear_in_the_members(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_http11, "MAX_GZIP_MEMBERS", 10**9)  # the cap would refuse these at once
    member = gzip.compress(b"")
    times = []
    for count in (20_000, 80_000):
        started = time.perf_counter()
        assert decode_body(member * count, "gzip") == b""
        times.append(time.perf_counter() - started)
    assert times[1] < 12 * times[0] + 0.5  # 4x the members: about 4x the time, never 16x


def test_the_alarm_is_put_back_as_it_was(capsys: pytest.CaptureFixture[str]) -> None:
    def mine(signum: int, frame: object) -> None:
        raise AssertionError("this test's own alarm rang")

    previous = signal.signal(signal.SIGALRM, mine)
    signal.setitimer(signal.ITIMER_REAL, 50.0)
    try:
        with MetricsServer("app_state 1\n") as server:
            assert main([server.url, "app_state > 0", "--timeout", "30"]) == 0
        assert signal.getsignal(signal.SIGALRM) is mine
        assert 40 < signal.getitimer(signal.ITIMER_REAL)[0] <= 50
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    capsys.readouterr()


class Swallows:
    """Busy in ``__del__`` for ``seconds``: a ring that lands there is reported as unraisable and lost."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def __del__(self) -> None:
        end = time.monotonic() + self.seconds
        while time.monotonic() < end:
            pass


def busy_after_a_lost_ring() -> None:
    Swallows(0.2)  # deleted at once: the first rings land in its __del__
    end = time.monotonic() + 5
    while time.monotonic() < end:
        pass


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_ring_lost_where_python_cannot_raise_rings_again() -> None:
    # Seen in CI: the deadline rang inside a gc callback, was lost, and the check answered WARN late.
    saved = _deadline.arm(time.monotonic() + 0.02)
    try:
        _deadline.fetched()
        started = time.monotonic()
        with pytest.raises(_deadline.OutOfTime):
            busy_after_a_lost_ring()
        assert time.monotonic() - started < 4  # a later ring stopped it, long before its 5 s
    finally:
        _deadline.disarm(saved)


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_ring_lost_during_the_fetch_is_found_when_the_fetch_ends() -> None:
    saved = _deadline.arm(time.monotonic() + 0.01)
    try:
        Swallows(0.1)
        with pytest.raises(_deadline.OutOfTime):
            _deadline.fetched()
    finally:
        _deadline.disarm(saved)
