"""`healthgauge demo` as a new user meets it: --help, the story on screen, and `ctl` hints that
work exactly as printed, against the real command."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from healthgauge.agent import Condition, Level, Role, TargetState, parse_config
from healthgauge.demo._view import CLEAR, Header, Story, frame
from healthgauge.demo._worker import CONFIG
from support.procs import stop

COMMAND = [sys.executable, "-m", "healthgauge", "demo"]


def test_help_is_plain_text_and_says_how_to_stop() -> None:
    out = subprocess.run([*COMMAND, "--help"], capture_output=True, text=True, timeout=30)
    assert (out.returncode, out.stderr) == (0, "")
    assert out.stdout.startswith("usage: healthgauge demo [-h] [--duration SECONDS]")
    assert "Ctrl-C stops everything" in out.stdout
    assert "``" not in out.stdout
    assert ":class:" not in out.stdout


def test_a_bad_duration_exits_3() -> None:
    out = subprocess.run([*COMMAND, "--duration", "0"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 3
    assert "a number of seconds above 0, got '0'" in out.stderr


def test_a_frame_shows_rules_verdicts_and_what_each_consumer_hears() -> None:
    config = parse_config(CONFIG.format(urls='"worker-a" = "http://127.0.0.1:1/metrics"'))
    stuck = TargetState(
        name="worker-a",
        live=True,
        ready=False,
        weight=40,
        maxconn=80,
        reason="failing 2/2: no job done",
        conditions=(Condition(role=Role.READY, expr="x", holds=False, values=(0.0,)),),
        checks=9,
    )
    header = Header(
        status_url="http://127.0.0.1:9/status",
        ctl="/v/bin/healthgauge ctl",
        admin="127.0.0.1:8",
        first_target="worker-a",
    )
    story = Story()
    story.phase(12.0, "worker-a", "stuck")
    story.change(13.5, TargetState(name="worker-a", ready=True, weight=100), stuck)
    text = frame(header, config.targets[0], [stuck], {"worker-a": "stuck"}, story, at=14.0)
    assert stuck.level is Level.UNHEALTHY
    for expected in (
        "Status page (open it in a browser): http://127.0.0.1:9/status",
        "/v/bin/healthgauge ctl drain worker-a --admin 127.0.0.1:8",
        "ready    sum(increase(demo_jobs_processed_total[2s])) > 0 or sum(demo_queue_depth) == 0",
        "worker-a  [stuck]  UNHEALTHY  weight 40  maxconn 80",
        "rules    ready FAILS 0",
        "HAProxy  down ready 40% maxconn:80 #failing 2/2: no job done",
        "k8s      /livez 200   /readyz 503",
        "gRPC worker-a NOT_SERVING   gRPC worker-a.live SERVING",
        "12.0s  worker-a is stuck: still answers /metrics but completes nothing",
        "13.5s  agent: worker-a healthy -> unhealthy (failing 2/2: no job done)",
    ):
        assert expected in text, expected


@contextmanager
def demo(*args: str) -> Iterator[tuple[subprocess.Popen[str], list[str]]]:
    proc = subprocess.Popen([*COMMAND, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    assert proc.stdout is not None
    stdout = proc.stdout

    def read() -> None:
        with stdout:
            lines.extend(stdout)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        yield proc, lines
    finally:
        stop(proc)  # type: ignore[arg-type]
        reader.join(timeout=5)
        if proc.stderr is not None:
            proc.stderr.close()


def wait_for(lines: list[str], predicate: object, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in list(lines):
            if predicate(line):  # type: ignore[operator]
                return line
        time.sleep(0.05)
    raise AssertionError(f"not seen within {timeout}s:\n{''.join(lines)}")


@pytest.mark.slow
def test_the_demo_tells_the_story_and_its_ctl_hints_work_as_printed() -> None:
    with demo("--duration", "11", "--view", "log") as (proc, lines):
        hint = wait_for(lines, lambda line: " ctl drain worker-a --admin " in line, timeout=20).strip()
        status = wait_for(lines, lambda line: " ctl status --admin " in line, timeout=5).strip()
        assert shlex.split(hint)[0].endswith("/bin/healthgauge")  # a full path: works without PATH
        wait_for(lines, lambda line: "agent: worker-a unhealthy -> healthy" in line, timeout=20)
        out = subprocess.run(shlex.split(status), capture_output=True, text=True, timeout=30, env={})
        assert out.returncode == 0, out.stderr
        assert {json.loads(line)["name"] for line in out.stdout.splitlines()} == {"worker-a", "worker-b"}
        out = subprocess.run(shlex.split(hint), capture_output=True, text=True, timeout=30, env={})
        assert out.returncode == 0, out.stderr
        assert json.loads(out.stdout)["admin"] == "drain"
        wait_for(lines, lambda line: "agent: worker-a healthy -> draining" in line, timeout=10)
        wait_for(lines, lambda line: "worker-b is stuck: " in line, timeout=10)
        wait_for(lines, lambda line: "agent: worker-b unhealthy -> dead" in line, timeout=15)
        assert proc.wait(timeout=30) == 0
    text = "".join(lines)
    assert "Status page (open it in a browser): http://127.0.0.1:" in text
    assert "Stop: Ctrl-C." in text
    assert text.rstrip().endswith("stopping")


def test_the_live_view_redraws_in_place() -> None:
    out = subprocess.run([*COMMAND, "--duration", "3", "--view", "live"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    frames = out.stdout.split(CLEAR)[1:]
    assert len(frames) >= 4  # every 0.5 s
    last = frames[-1]
    for expected in ("Rules, checked every 500ms", "worker-a  [healthy]", "worker-b  [", "HAProxy  ", "Story ("):
        assert expected in last, expected
    assert out.stderr == ""  # the agent's log lines do not spill over the screen
