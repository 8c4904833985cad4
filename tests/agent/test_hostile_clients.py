"""Clients that attack the agent's listeners (issue #13): idle connections past the open-file
limit, a pipelining client that never reads, a fleet of HAProxies connecting at once. The agent
keeps answering everyone else. Loopback only; every socket and process closed."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import resource
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from healthgauge.agent._config import Address
from healthgauge.agent.servers._haproxy import AgentCheckServer
from healthgauge.agent.servers._probeserver import ProbeServer
from healthgauge.agent.servers._resources import QuietAcceptErrors, connection_cap
from healthgauge.agent.state._hub import StateHub
from healthgauge.health._state import Policy
from support.procs import stop

MAIN = Path(__file__).resolve().parent.parent / "support" / "agent_main.py"


def ok(path: str, query: str) -> tuple[int, tuple[tuple[str, str], ...], bytes]:
    return 200, (), b"ok\n"


@pytest.fixture
async def probe_server() -> AsyncIterator[tuple[ProbeServer, int]]:
    server = ProbeServer(ok, max_connections=20)
    address = await server.start("127.0.0.1", 0)
    yield server, int(address.rsplit(":", 1)[1])
    await server.close()


async def probe(port: int, *, within: float = 2.0) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(b"GET /livez HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        return await asyncio.wait_for(reader.read(), within)
    finally:
        writer.close()


async def test_idle_connections_past_the_cap_shed_the_oldest_idle_first(probe_server: tuple[ProbeServer, int]) -> None:
    server, port = probe_server
    idle = [await asyncio.open_connection("127.0.0.1", port) for _ in range(40)]
    try:
        await asyncio.sleep(0.1)
        assert len(server.connections) <= 20
        assert (await probe(port)).startswith(b"HTTP/1.1 200")
        assert server.shed >= 20
        first_reader = idle[0][0]
        assert await asyncio.wait_for(first_reader.read(), 2) == b""  # the oldest was closed
    finally:
        for _, writer in idle:
            writer.close()


async def test_a_pipelining_client_that_never_reads_stops_being_read(probe_server: tuple[ProbeServer, int]) -> None:
    server, port = probe_server
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    sock.setblocking(False)
    request = b"GET /livez HTTP/1.1\r\nHost: x\r\n\r\n" * 1000
    sent = 0
    try:
        for _ in range(400):  # up to 12 MB of requests, until the kernel will take no more
            try:
                sent += sock.send(request)
            except BlockingIOError:
                await asyncio.sleep(0.01)
                continue
            await asyncio.sleep(0)
        (conn,) = [c for c in server.connections if c.buffer or c.blocked]
        assert conn.blocked
        assert conn.transport is not None
        assert conn.transport.get_write_buffer_size() < 256 * 1024  # not 300 MB of answers
        assert sent < 8 * 1024 * 1024  # the kernel stopped taking requests: we stopped reading
        started = time.monotonic()
        assert (await probe(port)).startswith(b"HTTP/1.1 200")
        assert time.monotonic() - started < 1.5
    finally:
        sock.close()


async def test_the_kernel_queue_is_widened_past_the_accept_batch(probe_server: tuple[ProbeServer, int]) -> None:
    _, port = probe_server
    listening, somaxconn = await asyncio.to_thread(_listen_queue, port)
    if not listening:
        pytest.skip("ss (iproute2) is not available")
    assert listening.split()[2] == str(min(4096, somaxconn))


def _listen_queue(port: int) -> tuple[str, int]:
    """``ss``'s line for the listening socket (its Send-Q is the listen backlog), and somaxconn."""
    listening = subprocess.run(["ss", "-ltnH", f"sport = :{port}"], capture_output=True, text=True, check=False)
    somaxconn = int(Path("/proc/sys/net/core/somaxconn").read_text())
    return (listening.stdout.strip() if listening.returncode == 0 else ""), somaxconn


async def test_a_fleet_of_haproxies_connecting_at_once_is_answered() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if min(hard, 20000) < 4600:
        pytest.skip(f"needs 4,600 open files (hard limit {hard})")
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 20000), hard))
    hub = StateHub({"web": Policy()})
    server = AgentCheckServer(hub, default="web")
    await server.start(Address(host="127.0.0.1", port=0))
    port = int(server.addresses[0].rsplit(":", 1)[1])

    async def silent() -> bytes:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            return await reader.readline()
        finally:
            writer.close()

    try:
        started = time.monotonic()
        replies = await asyncio.wait_for(asyncio.gather(*(silent() for _ in range(2000))), 20)
        took = time.monotonic() - started
    finally:
        await server.close()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert all(reply.endswith(b"\n") and reply for reply in replies)
    assert took < 10, f"2,000 simultaneous agent checks took {took:.1f}s"  # the bound


def test_accept_errors_log_one_line_per_interval(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    handler = QuietAcceptErrors(clock=lambda: now[0], interval=10.0)
    loop = asyncio.new_event_loop()
    try:
        with caplog.at_level(logging.ERROR, "healthgauge.agent"):
            for i in range(5000):
                now[0] = i * 0.01  # 50 s of failing accepts, 100 a second
                context = {"message": "socket.accept() out of system resource", "exception": OSError(24, "EMFILE")}
                handler(loop, context)
    finally:
        loop.close()
    lines = [r for r in caplog.records if "cannot accept" in r.getMessage()]
    assert len(lines) == 5
    assert all(r.exc_info is None for r in lines)
    assert "999 more since the last line" in lines[1].getMessage()


def test_the_connection_cap_stays_below_the_open_file_limit() -> None:
    assert connection_cap(3, 100, open_files=1024) == (1024 - 128 - 200 - 3 * 128) // 3
    assert connection_cap(3, 10, open_files=1 << 20) == 4096
    assert connection_cap(3, 1000, open_files=1024) == 16


@contextlib.contextmanager
def agent_process(tmp_path: Path, soft: int, hard: int) -> Iterator[tuple[subprocess.Popen[str], int]]:
    config = tmp_path / "agent.toml"
    config.write_text(
        '[agent]\nlisten = "127.0.0.1:0"\nshutdown_grace = "0s"\n[[targets]]\nname = "t"\nurl = "http://127.0.0.1:9/metrics"\n'
        'interval = "1s"\nready = ["up == 1"]\n'
    )

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))

    with (tmp_path / "agent.log").open("w") as log:
        proc = subprocess.Popen(
            [sys.executable, str(MAIN), "--config", str(config), "--log-level", "info"],
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            preexec_fn=limit,  # only sets a resource limit in the child
        )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("listening http "), line
        yield proc, int(line.split()[2].rsplit(":", 1)[1])
    finally:
        stop(proc)
        if proc.stdout is not None:
            proc.stdout.close()


@pytest.mark.real
def test_connections_past_the_open_file_limit_leave_the_agent_answering(tmp_path: Path) -> None:
    """A real agent with 256 open files (raised from 200) and 400 idle connections to its probe
    port: probes are still answered, and the log stays small."""
    with agent_process(tmp_path, 200, 256) as (_proc, port):
        idle = []
        try:
            for _ in range(400):
                sock = socket.socket()
                sock.settimeout(2)
                with contextlib.suppress(OSError):
                    sock.connect(("127.0.0.1", port))
                idle.append(sock)
            time.sleep(0.5)
            for _ in range(5):
                with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
                    sock.sendall(b"GET /livez HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                    assert sock.recv(100).startswith(b"HTTP/1.1 200")
        finally:
            for sock in idle:
                sock.close()
    log = (tmp_path / "agent.log").read_text()
    assert "open-file limit raised from 200 to 256" in log
    assert len(log) < 20_000, log[:2000]
    assert "Traceback" not in log
