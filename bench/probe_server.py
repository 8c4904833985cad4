"""The probe endpoints' server: healthgauge's ProbeServer beside aiohttp serving the same handler.

    .venv/bin/python bench/probe_server.py [--rate 2000] [--seconds 5]

Each server runs in its own process with 1,000 ready targets and answers `/readyz/<target>` to
the open-loop generator of bench/agent.py (32 keep-alive connections). Prints the server's CPU
per probe and the probe latency p50/p99 for each, and their ratio. Run side by side, so the
ratios hold on a noisy machine even when the absolute figures move.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


async def _serve(kind: str, seconds: float) -> None:
    from aiohttp import web

    from healthgauge.agent.servers._endpoints import Endpoints
    from healthgauge.agent.servers._probeserver import ProbeServer
    from healthgauge.agent.state._hub import StateHub
    from healthgauge.health._state import Policy, Verdict

    hub = StateHub({f"t{i}": Policy(rise=1) for i in range(1000)})
    for i in range(1000):
        hub.observe(f"t{i}", Verdict(at=1.0, live=True, ready=True))
    endpoints = Endpoints(hub)
    if kind == "probeserver":
        server = ProbeServer(endpoints.handle)
        port = int((await server.start("127.0.0.1", 0)).rpartition(":")[2])
    else:

        async def handle(request: web.BaseRequest) -> web.Response:
            answer = endpoints.handle(request.path, request.query_string)
            assert isinstance(answer, tuple)
            status, headers, body = answer
            return web.Response(status=status, headers=headers, body=body)

        runner = web.ServerRunner(web.Server(handle, access_log=None))
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
    print(port, flush=True)
    before = resource.getrusage(resource.RUSAGE_SELF)
    await asyncio.sleep(seconds)
    after = resource.getrusage(resource.RUSAGE_SELF)
    print(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime, flush=True)


def run(kind: str, rate: float, seconds: float) -> tuple[float, float, float]:
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve", kind, str(seconds + 2)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert server.stdout is not None
        port = server.stdout.readline().strip()
        gen = subprocess.run(
            [sys.executable, str(HERE / "agent.py"), "--generate", port, str(rate), str(seconds), "1000"],
            capture_output=True,
            text=True,
            check=True,
        )
        cpu = float(server.stdout.readline())
        total, _done, _errors, p50, p99, _worst = gen.stdout.split()
        return cpu / int(total), float(p50), float(p99)
    finally:
        server.terminate()
        server.wait(10)
        if server.stdout is not None:
            server.stdout.close()


def main() -> None:
    if sys.argv[1:2] == ["--serve"]:
        asyncio.run(_serve(sys.argv[2], float(sys.argv[3])))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=2000.0)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    results = {kind: run(kind, args.rate, args.seconds) for kind in ("aiohttp", "probeserver")}
    for kind, (cpu, p50, p99) in results.items():
        print(f"{kind:<12} {cpu * 1e6:6.0f} us CPU per probe   p50 {p50:7.3f} ms   p99 {p99:7.3f} ms")
    a, p = results["aiohttp"], results["probeserver"]
    print(f"aiohttp / probeserver: CPU {a[0] / p[0]:.2f}x, p99 {a[2] / p[2]:.2f}x   at {args.rate:g} probes/s")


if __name__ == "__main__":
    main()
