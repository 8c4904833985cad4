"""A real HAProxy (Debian 2.6) applies the embedded responder's agent-check replies (spec §10.1)."""

from __future__ import annotations

import asyncio
import csv
import io
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from healthgauge.overload import AgentCheckResponder, LoadReporter
from support.procs import free_port, require, stop

CONFIG = """
global
  stats socket {sock} mode 600 level admin
defaults
  mode http
  timeout connect 1s
  timeout client 5s
  timeout server 5s
frontend fe
  bind 127.0.0.1:{fe_port}
  default_backend be_app
backend be_app
  server s1 127.0.0.1:{srv_port} weight 100 agent-check agent-port {agent_port} agent-inter 100ms
"""


async def show_stat(sock: Path) -> dict[str, str]:
    reader, writer = await asyncio.open_unix_connection(str(sock))
    writer.write(b"show stat\n")
    await writer.drain()
    text = (await asyncio.wait_for(reader.read(), 2)).decode()
    writer.close()
    rows = [r for r in csv.reader(io.StringIO(text.lstrip("# "))) if r]
    header = rows[0]
    for row in rows[1:]:
        record = dict(zip(header, row, strict=False))
        if record["pxname"] == "be_app" and record["svname"] == "s1":
            return record
    raise AssertionError(f"no be_app/s1 row in:\n{text}")


async def until(sock: Path, predicate: object, what: str) -> dict[str, str]:
    row: dict[str, str] = {}
    for _ in range(100):  # 100 × 50 ms: 5 s, far above agent-inter 100 ms
        row = await show_stat(sock)
        if predicate(row):  # type: ignore[operator]
            return row
        await asyncio.sleep(0.05)
    raise AssertionError(f"HAProxy never showed {what}: {row}")


def start_haproxy(binary: str, cfg: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen([binary, "-db", "-f", str(cfg)], stdout=out, stderr=subprocess.STDOUT)


Harness = tuple[LoadReporter, dict[str, float], Path]


@pytest.fixture
async def haproxy(tmp_path: Path) -> AsyncIterator[Harness]:
    binary = require("haproxy")
    load = {"value": 40.0}
    reporter = LoadReporter(warmup=0.0)
    responder = AgentCheckResponder(lambda: reporter.report(round(load["value"]), 12))
    await responder.start()
    sock = tmp_path / "admin.sock"
    log = tmp_path / "haproxy.log"
    proc = None
    try:
        for _ in range(5):  # the frontend port is picked free but may be taken: retry
            cfg = tmp_path / "haproxy.cfg"
            cfg.write_text(
                CONFIG.format(sock=sock, fe_port=free_port(), srv_port=free_port(), agent_port=responder.port)
            )
            proc = start_haproxy(binary, cfg, log)
            for _ in range(100):
                if sock.exists() or proc.poll() is not None:
                    break
                await asyncio.sleep(0.05)
            if proc.poll() is None and sock.exists():
                break
            stop(proc)
        assert proc is not None
        assert proc.poll() is None, log.read_text()
        yield reporter, load, sock
    finally:
        if proc is not None:
            stop(proc)
        await responder.close()


@pytest.mark.real
async def test_haproxy_applies_weight_maxconn_and_drain(haproxy: Harness) -> None:
    reporter, load, sock = haproxy
    row = await until(sock, lambda r: r["weight"] == "60", "weight 60")
    assert row["slim"] == "12"
    assert row["agent_status"].lstrip("* ").startswith("L7OK")
    load["value"] = 95.0
    row = await until(sock, lambda r: r["weight"] == "10", "the weight floor under overload")
    assert not row["status"].startswith("DRAIN")  # overload is not drain
    reporter.drain()
    await until(sock, lambda r: r["status"].startswith("DRAIN"), "DRAIN")
    reporter.ready()
    load["value"] = 0.0
    await until(sock, lambda r: not r["status"].startswith("DRAIN") and r["weight"] == "100", "ready at 100")
