"""Open-loop HTTP load generator for the real-process smoke test (spec §12).

Run it as its own process (pinned to another core where possible):

    python bench/overload/loadgen.py --url http://127.0.0.1:PORT/work \\
        --phases 200:15,800:15,200:15 --out result.json [--agent 127.0.0.1:APORT]

* Open loop: every send time is drawn in advance (Poisson, per phase), and each request is sent at
  its scheduled time whether or not earlier ones have returned.
* Latency runs from the **scheduled** send time, so a late sender cannot hide queueing
  (coordinated omission). The send lag (actual − scheduled start) is recorded too: a run whose
  p99 send lag exceeds 20 ms is invalid, not failed.
* Client timeout 1 s; hard caps on wall time (60 s) and request count (40,000); loopback only.
* ``--closed N --seconds S`` instead measures capacity: N clients in a closed loop for S seconds.

Output (JSON): ``records`` as ``[scheduled_s, status, latency_s, flags]`` (status 0: timeout or
connection error; flags bit 1: a 503 carrying both ``Retry-After`` and ``Healthgauge-Overload``),
``agent`` as ``[t_s, line]`` polls of the agent-check port, and ``send_lag`` in seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import random
import sys
import time
import urllib.parse
from pathlib import Path
from typing import Any

import aiohttp

MAX_WALL = 60.0
MAX_REQUESTS = 40_000
TIMEOUT = 1.0
FLAG_MARKED_503 = 1


def schedule(phases: list[tuple[float, float]], *, seed: int, cap: int) -> list[float]:
    """Poisson send times (seconds from start) for ``(rate_rps, duration_s)`` phases."""
    rng = random.Random(seed)
    times: list[float] = []
    start = 0.0
    for rate, duration in phases:
        t = start
        while rate > 0:
            t += rng.expovariate(rate)
            if t >= start + duration or len(times) >= cap:
                break
            times.append(t)
        start += duration
    return times


def _loopback_only(url: str) -> None:
    host = urllib.parse.urlsplit(url).hostname or ""
    if host != "localhost" and not ipaddress.ip_address(host).is_loopback:
        raise SystemExit(f"loadgen: refusing non-loopback target {host!r}")


async def _one(
    session: aiohttp.ClientSession, url: str, t0: float, when: float, headers: dict[str, str], out: list[Any]
) -> None:
    started = time.monotonic() - t0
    out_lag = started - when
    status, flags = 0, 0
    try:
        async with session.get(url, headers=headers) as resp:
            await resp.read()
            status = resp.status
            if status == 503 and "Retry-After" in resp.headers and "Healthgauge-Overload" in resp.headers:
                flags |= FLAG_MARKED_503
    except (TimeoutError, aiohttp.ClientError, OSError):
        status = 0
    out.append([round(when, 6), status, round(time.monotonic() - t0 - when, 6), flags, round(out_lag, 6)])


async def _poll_agent(host: str, port: int, t0: float, stop: asyncio.Event, out: list[Any], every: float) -> None:
    while not stop.is_set():
        line = ""
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 0.5)
            try:
                line = (await asyncio.wait_for(reader.readline(), 0.5)).decode(errors="replace").strip()
            finally:
                writer.close()
        except (TimeoutError, OSError):
            line = ""
        out.append([round(time.monotonic() - t0, 3), line])
        try:
            await asyncio.wait_for(stop.wait(), every)
        except TimeoutError:
            pass


async def open_loop(args: argparse.Namespace) -> dict[str, Any]:
    phases = [(float(r), float(d)) for r, d in (p.split(":") for p in args.phases.split(","))]
    times = schedule(phases, seed=args.seed, cap=args.max_requests)
    total = sum(d for _, d in phases)
    records: list[Any] = []
    agent: list[Any] = []
    headers = dict(h.split(":", 1) for h in args.header)
    connector = aiohttp.TCPConnector(limit=args.connections, force_close=False)
    timeout = aiohttp.ClientTimeout(total=args.timeout)
    stop = asyncio.Event()
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        t0 = time.monotonic()
        poller = None
        if args.agent:
            host, port = args.agent.rsplit(":", 1)
            poller = asyncio.create_task(_poll_agent(host, int(port), t0, stop, agent, args.agent_every))
        tasks: set[asyncio.Task[None]] = set()
        for when in times:
            if time.monotonic() - t0 > min(MAX_WALL, total + 5):
                break
            delay = when - (time.monotonic() - t0)
            if delay > 0:
                await asyncio.sleep(delay)
            task = asyncio.create_task(_one(session, args.url, t0, when, headers, records))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        remaining = max(0.1, min(MAX_WALL, total + 5) - (time.monotonic() - t0))
        if tasks:
            await asyncio.wait(tasks, timeout=min(remaining, args.timeout + 1))
        stop.set()
        if poller is not None:
            await poller
    records.sort()
    return {
        "phases": phases,
        "scheduled": len(times),
        "records": [r[:4] for r in records],
        "send_lag": [r[4] for r in records],
        "agent": agent,
    }


async def closed_loop(args: argparse.Namespace) -> dict[str, Any]:
    """``--closed N``: N clients back to back for ``--seconds``; the throughput of 200 answers."""
    connector = aiohttp.TCPConnector(limit=args.closed)
    timeout = aiohttp.ClientTimeout(total=args.timeout)
    ok = 0
    latencies: list[float] = []
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        t0 = time.monotonic()
        end = t0 + min(args.seconds, MAX_WALL)

        async def client() -> None:
            nonlocal ok
            while (start := time.monotonic()) < end and ok < args.max_requests:
                try:
                    async with session.get(args.url) as resp:
                        await resp.read()
                        if resp.status == 200:
                            ok += 1
                            latencies.append(time.monotonic() - start)
                except (TimeoutError, aiohttp.ClientError, OSError):
                    pass

        await asyncio.gather(*(client() for _ in range(args.closed)))
        elapsed = time.monotonic() - t0
    latencies.sort()
    p50 = latencies[len(latencies) // 2] if latencies else None
    return {"ok": ok, "seconds": elapsed, "rps": ok / elapsed, "p50_s": p50}


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--url", required=True)
    p.add_argument("--phases", default="", help="rate_rps:duration_s,… (open loop)")
    p.add_argument("--closed", type=int, default=0, help="closed loop with N clients instead")
    p.add_argument("--seconds", type=float, default=5.0)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--timeout", type=float, default=TIMEOUT)
    p.add_argument("--max-requests", type=int, default=MAX_REQUESTS)
    p.add_argument("--connections", type=int, default=2000, help="client connection pool size")
    p.add_argument("--agent", default="", help="host:port of an agent-check responder to poll")
    p.add_argument("--agent-every", type=float, default=0.25)
    p.add_argument("--header", action="append", default=[], help="Name:value sent with every request")
    p.add_argument("--out", default="-")
    args = p.parse_args(argv)
    args.max_requests = min(args.max_requests, MAX_REQUESTS)
    if not args.closed and not args.phases:
        p.error("give --phases (open loop) or --closed N")
    _loopback_only(args.url)
    return args


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    result = asyncio.run(closed_loop(args) if args.closed else open_loop(args))
    text = json.dumps(result, separators=(",", ":"))
    if args.out == "-":
        sys.stdout.write(text + "\n")
    else:
        Path(args.out).write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
