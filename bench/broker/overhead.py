"""What the broker itself adds: latency and CPU per request at a fixed open-loop rate, with the
machine's own saturation measured beside it (issue #17: ≤ 1 ms added p50 and ≤ 300 µs CPU per
request at 1,000 requests/s).

Two paths through one real HAProxy, same client, rounds alternating:

- ``direct``: HAProxy → the workers (roundrobin, keep-alive to them);
- ``broker``: HAProxy → ``healthgauge broker`` → the same workers.

The workers are trivial (``trivial_worker.py``: each answer after ``--sleep-ms`` on a timer, no
CPU), and the client is a lean callback client on uvloop with Poisson arrivals over a pool of
keep-alive connections, so the rest of the rig costs as little CPU as it can. Per round: the
p50/p90/p99 of each path, and for each process of the rig its CPU (``/proc/PID/stat``) and the
time it was runnable but waiting for a core (``/proc/PID/schedstat``: the machine's saturation,
not the process's cost), with the load average and the kernel's CPU pressure (PSI). The added
p50 is each broker round's p50 minus the mean of the direct rounds beside it.

    python bench/broker/overhead.py --quick     # ~40 s
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1] / "tests"))

from support.brokers import Proc, broker, broker_config, metrics, stop_all  # noqa: E402
from support.haproxy import HAProxy  # noqa: E402

HAPROXY = """\
global
    stats socket {sock} mode 600 level admin
    maxconn 4000
defaults
    mode http
    timeout connect 1s
    timeout client 30s
    timeout server 30s
    http-reuse always
frontend fe_direct
    bind 127.0.0.1:{fe_port}
    default_backend direct
frontend fe_broker
    bind 127.0.0.1:{br_port}
    default_backend broker
backend direct
    balance roundrobin
{servers}
backend broker
    server b0 127.0.0.1:{broker}
"""

BROKER_EXTRA = """\
[affinity]
path_segment = 2
"""

COUNTED = 'healthgauge_broker_requests_total{class="interactive"}'
REQUEST = b"GET /img/k%d HTTP/1.1\r\nhost: bench\r\nhealthgauge-timeout: 5000\r\n\r\n"


class Conn(asyncio.Protocol):
    """One keep-alive connection carrying one request at a time."""

    def __init__(self, client: LeanClient) -> None:
        self.client = client
        self.transport: asyncio.Transport | None = None
        self.buf = b""
        self.need = -1  # bytes of the answer still to come after its head; -1 while in the head
        self.started = 0.0
        self.status = 0
        self.done: Callable[[int, float], None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        if self.done is not None:
            self.done(0, 0.0)
            self.done = None

    def send(self, data: bytes, done: Callable[[int, float], None]) -> None:
        assert self.transport is not None
        self.buf, self.need, self.done = b"", -1, done
        self.started = time.perf_counter()
        self.transport.write(data)

    def data_received(self, data: bytes) -> None:
        self.buf += data
        if self.need < 0:
            end = self.buf.find(b"\r\n\r\n")
            if end == -1:
                return
            head = self.buf[:end].lower() + b"\r\n"
            at = head.find(b"content-length:")
            self.need = end + 4 + (int(head[at + 15 : head.find(b"\r\n", at)]) if at != -1 else 0)
            self.status = int(self.buf[9:12])
        if len(self.buf) >= self.need and self.done is not None:
            done, self.done = self.done, None
            done(self.status, time.perf_counter() - self.started)
            self.client.idle.append(self)


class LeanClient:
    def __init__(self, port: int) -> None:
        self.port = port
        self.idle: list[Conn] = []

    async def open(self, count: int) -> None:
        loop = asyncio.get_running_loop()
        for _ in range(count):
            _, conn = await loop.create_connection(lambda: Conn(self), "127.0.0.1", self.port)
            self.idle.append(conn)

    def close(self) -> None:
        for conn in self.idle:
            if conn.transport is not None:
                conn.transport.close()


async def open_loop(port: int, rate: float, seconds: float, seed: int) -> tuple[list[float], int]:
    """Latencies of the 200s, and how many requests failed or had no connection free."""
    client = LeanClient(port)
    await client.open(64)
    rng = random.Random(seed)
    loop = asyncio.get_running_loop()
    latencies: list[float] = []
    failed = 0
    outstanding = 0
    finished = asyncio.Event()

    def done(status: int, latency: float) -> None:
        nonlocal failed, outstanding
        outstanding -= 1
        if status == 200:
            latencies.append(latency)
        else:
            failed += 1
        if outstanding == 0 and sending_over:
            finished.set()

    sending_over = False
    begin = loop.time()
    at = 0.0
    while at < seconds:
        at += rng.expovariate(rate)
        delay = begin + at - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        if not client.idle:
            failed += 1
            continue
        outstanding += 1
        client.idle.pop().send(REQUEST % rng.randrange(1000), done)
    sending_over = True
    if outstanding:
        try:
            await asyncio.wait_for(finished.wait(), 10)
        except TimeoutError:
            failed += outstanding
    client.close()
    return latencies, failed


def run_loop(port: int, rate: float, seconds: float, seed: int) -> tuple[list[float], int]:
    try:
        import uvloop
    except ImportError:
        return asyncio.run(open_loop(port, rate, seconds, seed))
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(open_loop(port, rate, seconds, seed))


def cpu_and_wait(pid: int) -> tuple[float, float]:
    """Seconds of CPU (user + system) and seconds runnable but waiting for a core, every thread."""
    cpu = wait = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    for task in Path(f"/proc/{pid}/task").iterdir():
        fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        cpu += (int(fields[11]) + int(fields[12])) / tick
        wait += int((task / "schedstat").read_text().split()[1]) / 1e9
    return cpu, wait


def pressure() -> float:
    """The share of the last 10 s in which some runnable task waited for a core (PSI), or NaN."""
    try:
        line = Path("/proc/pressure/cpu").read_text().split("\n")[0]
    except OSError:
        return float("nan")
    return float(line.split("avg10=")[1].split()[0]) / 100


@dataclass
class Round:
    via: str
    latencies: list[float]
    failed: int
    seconds: float
    load: float
    psi: float
    usage: dict[str, tuple[float, float]] = field(default_factory=dict)  # role -> (cpu s, wait s)
    broker_requests: float = 0.0

    def p(self, q: float) -> float:
        lat = sorted(self.latencies)
        return lat[min(len(lat) - 1, int(q * len(lat)))] if lat else float("nan")


def measure(via: str, port: int, pids: dict[str, list[int]], args: argparse.Namespace, seed: int,
            admin: int) -> Round:  # fmt: skip
    def usage() -> dict[str, tuple[float, float]]:
        out = {}
        for role, group in pids.items():
            sums = [cpu_and_wait(pid) for pid in group]
            out[role] = (sum(s[0] for s in sums), sum(s[1] for s in sums))
        return out

    before, counted = usage(), metrics(admin).get(COUNTED, 0)
    t0, self0 = time.perf_counter(), cpu_and_wait(os.getpid())
    latencies, failed = run_loop(port, args.rate, args.seconds, seed)
    elapsed, self1 = time.perf_counter() - t0, cpu_and_wait(os.getpid())
    after = usage()
    rnd = Round(via, latencies, failed, elapsed, os.getloadavg()[0], pressure())
    rnd.usage = {role: (after[role][0] - before[role][0], after[role][1] - before[role][1]) for role in after}
    rnd.usage["client"] = (self1[0] - self0[0], self1[1] - self0[1])
    rnd.broker_requests = metrics(admin).get(COUNTED, 0) - counted
    return rnd


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rate", type=float, default=1000.0)
    p.add_argument("--seconds", type=float, default=None, help="per round (default 6, --quick 4)")
    p.add_argument("--rounds", type=int, default=None, help="rounds of each path (default 4, --quick 3)")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--sleep-ms", type=float, default=1.0, help="each worker's answer time (a timer, no CPU)")
    p.add_argument("--quick", action="store_true")
    args = p.parse_args()
    args.seconds = args.seconds or (4.0 if args.quick else 6.0)
    rounds = args.rounds or (3 if args.quick else 4)
    started: list[Proc] = []
    results: list[Round] = []
    with tempfile.TemporaryDirectory(prefix="hg-bench-overhead-") as tmp:
        workdir = Path(tmp)
        try:
            workers = []
            for i in range(args.workers):
                argv = [sys.executable, str(HERE / "trivial_worker.py"), "--sleep-ms", str(args.sleep_ms)]
                w = Proc(argv, workdir / f"t{i}.log", "READY")
                started.append(w)
                w.start()
                workers.append(w)
            ports = {f"t{i}": w.ports["http"] for i, w in enumerate(workers)}
            b = broker(workdir, "b", broker_config(ports, extra=BROKER_EXTRA, worker_extra="max_inflight = 256"))
            started.append(b)
            b.start()
            from support.procs import free_port

            servers = "\n".join(f"    server t{i} 127.0.0.1:{port}" for i, port in enumerate(ports.values()))
            br_port = free_port()
            with HAProxy(workdir, HAPROXY, servers=servers, br_port=br_port, broker=b.ports["proxy"]) as hap:
                assert hap.proc is not None
                pids = {"broker": [b.pid], "haproxy": [hap.proc.pid], "workers": [w.pid for w in workers]}
                port = {"direct": hap.fe_port, "broker": br_port}
                for via in ("direct", "broker"):
                    run_loop(port[via], args.rate, 1.0, seed=99)  # warm: connections, caches
                for r in range(rounds):
                    for via in ("broker", "direct") if r % 2 else ("direct", "broker"):
                        rnd = measure(via, port[via], pids, args, r, b.ports["admin"])
                        results.append(rnd)
                        show(rnd, args)
        finally:
            stop_all(started)
    report(results, args)
    return 0


def show(rnd: Round, args: argparse.Namespace) -> None:
    n = max(1, len(rnd.latencies) + rnd.failed)
    per = "  ".join(f"{role} {cpu / n * 1e6:.0f}/{wait / n * 1e6:.0f}" for role, (cpu, wait) in rnd.usage.items())
    print(f"  {rnd.via:<7} {len(rnd.latencies) / rnd.seconds:6.0f} answers/s  failed {rnd.failed}  p50/90/99 "
          f"{rnd.p(0.5) * 1e3:.2f}/{rnd.p(0.9) * 1e3:.2f}/{rnd.p(0.99) * 1e3:.2f} ms  "
          f"µs per request cpu/waiting-for-a-core: {per}  load {rnd.load:.1f} psi {rnd.psi:.0%}",
          flush=True)  # fmt: skip


def report(results: list[Round], args: argparse.Namespace) -> None:
    added = []
    for i, rnd in enumerate(results):
        if rnd.via != "broker":
            continue
        near = [results[j].p(0.5) for j in (i - 1, i + 1) if 0 <= j < len(results) and results[j].via == "direct"]
        added.append(rnd.p(0.5) - statistics.mean(near))
    direct = [r for r in results if r.via == "direct"]
    brokered = [r for r in results if r.via == "broker"]
    cpu = sum(r.usage["broker"][0] for r in brokered)
    wait = sum(r.usage["broker"][1] for r in brokered)
    requests = sum(r.broker_requests for r in brokered)
    per_request, waited = cpu / max(1.0, requests) * 1e6, wait / max(1.0, requests) * 1e6
    median_added = statistics.median(added)
    loads = [r.load for r in results]
    psi = [r.psi for r in results]
    print(f"\nat {args.rate:.0f} requests/s, {len(direct)} + {len(brokered)} alternating rounds of "
          f"{args.seconds:.0f} s, "
          f"{args.workers} trivial workers ({args.sleep_ms:g} ms), load average {min(loads):.1f}-{max(loads):.1f}, "
          f"CPU pressure {min(psi):.0%}-{max(psi):.0%}:")  # fmt: skip
    print(f"  p50 direct {statistics.median(r.p(0.5) for r in direct) * 1e3:.2f} ms, through the broker "
          f"{statistics.median(r.p(0.5) for r in brokered) * 1e3:.2f} ms; added p50 per round "
          f"{', '.join(f'{a * 1e3:.2f}' for a in added)} ms, median {median_added * 1e3:.2f} ms "
          f"(target <= 1 ms): {'PASS' if median_added <= 1e-3 else 'FAIL'}")  # fmt: skip
    print(f"  broker CPU {per_request:.0f} µs per request over {requests:.0f} requests (target <= 300 µs): "
          f"{'PASS' if per_request <= 300 else 'FAIL'}; runnable but waiting for a core {waited:.0f} µs "
          "per request")  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
