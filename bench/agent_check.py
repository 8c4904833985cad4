"""HAProxy agent-check: renderer cost, and the listener's checks per second and latency on loopback.

The listener (healthgauge's AgentCheckServer over a 100-target hub) runs in its own process and is
measured side by side with a bare asyncio server that writes one fixed line: the ratio is what the
name lookup, the render and the bookkeeping cost. Each check is what HAProxy does: a new TCP
connection, ``agent-send`` written, one line read to the close.

    .venv/bin/python bench/agent_check.py [--seconds 2] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
import timeit

SERVER = r"""
import asyncio, sys
from healthgauge.agent._config import Address
from healthgauge.agent.servers._haproxy import AgentCheckServer
from healthgauge.agent.state._hub import StateHub
from healthgauge.health._spec import TargetSpec
from healthgauge.health._state import Policy, Verdict

async def healthgauge():
    names = [f"t{i}" for i in range(100)]
    hub = StateHub({n: TargetSpec(name=n, policy=Policy(rise=1), limits_maxconn=True) for n in names})
    for i, n in enumerate(names):
        hub.observe(n, Verdict(at=1.0, live=True, ready=i % 7 != 0, weight=i % 101, maxconn=40, reason="queue stuck"))
    server = AgentCheckServer(hub)
    await server.start(Address(host="127.0.0.1", port=0))
    print(server.addresses[0].rsplit(":", 1)[1], flush=True)
    await asyncio.Event().wait()

async def bare():
    async def handle(reader, writer):
        try:
            await asyncio.wait_for(reader.readline(), 0.1)
        except TimeoutError:
            pass
        writer.write(b"up ready 100%\n")
        await writer.drain()
        writer.close()
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    await asyncio.Event().wait()

asyncio.run(healthgauge() if sys.argv[1] == "healthgauge" else bare())
"""


def bench_render() -> float:
    from healthgauge.health import render_agent_reply
    from healthgauge.health._state import TargetState

    state = TargetState(name="t", live=True, ready=False, weight=60, maxconn=40, reason="no progress for 312s")
    n = 100_000
    return timeit.timeit(lambda: render_agent_reply(state, limits_maxconn=True), number=n) / n


async def load(port: int, seconds: float, concurrency: int) -> tuple[int, list[float]]:
    latencies: list[float] = []
    deadline = time.monotonic() + seconds

    async def client(k: int) -> None:
        i = k
        while time.monotonic() < deadline:
            start = time.perf_counter()
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(f"t{i % 100}\n".encode())
            line = await asyncio.wait_for(reader.read(256), 2)
            writer.close()
            await writer.wait_closed()
            assert line.endswith(b"\n"), line
            latencies.append(time.perf_counter() - start)
            i += concurrency

    await asyncio.gather(*(client(k) for k in range(concurrency)))
    return len(latencies), latencies


def measure(kind: str, seconds: float, concurrency: int) -> tuple[float, float, float]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([os.path.join(os.path.dirname(__file__), "..", "src")])}
    proc = subprocess.Popen([sys.executable, "-c", SERVER, kind], stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        count, lat = asyncio.run(load(port, seconds, concurrency))
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()
    lat.sort()
    return count / seconds, statistics.median(lat) * 1e3, lat[int(len(lat) * 0.99)] * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores (figures are noisy; read the ratios)")
    print(f"render_agent_reply: {bench_render() * 1e6:.2f} us per reply")
    results = {kind: measure(kind, args.seconds, args.concurrency) for kind in ("bare", "healthgauge")}
    for kind, (rate, p50, p99) in results.items():
        print(f"{kind:12s} {rate:8.0f} checks/s   p50 {p50:6.2f} ms   p99 {p99:6.2f} ms   ({args.concurrency} clients)")
    ratio = results["healthgauge"][0] / results["bare"][0]
    print(f"healthgauge / bare asyncio: {ratio:.2f}x the checks per second")
    # What that means for HAProxy: each server is checked once per agent-inter (2 s by default).
    print(f"servers one agent answers at agent-inter 2s: ~{results['healthgauge'][0] * 2:.0f}")


if __name__ == "__main__":
    main()
