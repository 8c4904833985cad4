"""SIGTERM on a real aiohttp ``web.run_app`` process: drain first, serve through the grace period,
then aiohttp's own shutdown finishes in-flight work and the process exits (spec §10.1)."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

APP = Path(__file__).parent / "apps" / "aiohttp_service.py"


def ask_agent(port: int) -> str:
    with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
        s.settimeout(2)
        return s.recv(256).decode()


@pytest.mark.slow
def test_aiohttp_run_app_drains_on_sigterm() -> None:
    grace = 1.0
    proc = subprocess.Popen([sys.executable, str(APP), str(grace)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().decode()
        assert line.startswith("READY "), line
        ports = json.loads(line[6:])
        url = f"http://127.0.0.1:{ports['http']}/work"
        assert ask_agent(ports["agent"]) == "up ready 100% maxconn:8\n"
        statuses: list[int] = []

        def call(query: str) -> None:
            with urllib.request.urlopen(url + query, timeout=10) as resp:
                statuses.append(resp.status)

        slow = threading.Thread(target=call, args=("?io=2",))
        slow.start()
        time.sleep(0.3)
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.2)
        assert ask_agent(ports["agent"]).startswith("up drain")
        call("")  # new requests are still served during the grace period
        slow.join(10)
        proc.wait(10)
        assert statuses == [200, 200]
        assert time.monotonic() - started <= grace + 2 + 2
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
        if proc.stdout is not None:
            proc.stdout.close()
