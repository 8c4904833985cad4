"""The installed command for real: `healthgauge agent` with the issue's minimal config, SIGTERM
drain (the demo has tests/demo). Real parser and evaluator throughout."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from support.procs import http_get, stop, wait_until

EXAMPLE = Path(__file__).parents[2] / "examples" / "agent.toml"
COMMAND = [sys.executable, "-m", "healthgauge"]


class Worker(BaseHTTPRequestHandler):
    queue_depth = 50

    def do_GET(self) -> None:
        body = (
            f"# TYPE app_last_iteration_ts gauge\napp_last_iteration_ts {time.time():.3f}\n"
            f"# TYPE app_state gauge\napp_state 1\n# TYPE queue_depth gauge\nqueue_depth {self.queue_depth}\n"
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def worker() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Worker)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/metrics"
    finally:
        server.shutdown()
        server.server_close()


def test_the_minimal_config_as_written_is_valid() -> None:
    out = subprocess.run([*COMMAND, "agent", "--config", str(EXAMPLE), "--check"], capture_output=True, text=True,
                         timeout=30)  # fmt: skip
    assert (out.returncode, out.stdout) == (0, f"{EXAMPLE}: 1 target(s), configuration valid\n")


def test_the_minimal_config_runs_and_drains_on_sigterm(tmp_path: Path, worker: str) -> None:
    # The config, moved to ephemeral ports, this test's worker and a 1 s grace.
    text = EXAMPLE.read_text()
    text = text.replace("127.0.0.1:8099", "127.0.0.1:0").replace("127.0.0.1:8100", "127.0.0.1:0")
    text = text.replace("http://127.0.0.1:9100/metrics", worker).replace('"5s"', '"1s"')
    config = tmp_path / "agent.toml"
    config.write_text(text)
    proc = subprocess.Popen([*COMMAND, "agent", "--config", str(config)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        http = proc.stdout.readline().split()[2]
        admin = proc.stdout.readline().split()[2]
        wait_until(lambda: http_get(f"http://{http}/readyz/worker")[0] == 200, timeout=10, what="ready")
        code, body = http_get(f"http://{http}/health/worker")
        doc = json.loads(body)
        assert (code, doc["status"]) == (200, "warn")  # weight 95 < 100: degraded
        assert doc["checks"]["worker:weight"][0]["observedValue"] == 95
        assert doc["checks"]["worker:maxconn"][0]["observedValue"] == 50
        assert doc["checks"]["worker:live"][0]["status"] == "pass"
        ctl = subprocess.run([*COMMAND, "ctl", "status", "worker", "--admin", admin], capture_output=True, text=True,
                             timeout=30)  # fmt: skip
        assert json.loads(ctl.stdout)["level"] == "degraded"
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        wait_until(lambda: http_get(f"http://{http}/readyz/worker")[0] == 503, timeout=2, what="drain")
        assert b"shutting down" in http_get(f"http://{http}/readyz/worker")[1]
        assert proc.wait(timeout=10) == 0
        assert 0.9 < time.monotonic() - started < 5
    finally:
        stop(proc)  # type: ignore[arg-type]
        if proc.stdout is not None:
            proc.stdout.close()
