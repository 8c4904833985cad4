"""The broker against what a user would pick instead, on one machine, side by side (issue #17).

Workload (like imgix's): 90 % cheap requests (``/img/KEY``, ~2 ms), 10 % expensive (``/pdf/KEY``,
~200 ms), keys drawn uniformly from ``--keys``; each of 4 workers runs 4 at a time and is
``--miss-factor`` times slower on a key that is not among the ``--cache`` keys it served last
(examples/broker/worker.py). Every service time is multiplied by ``--scale`` so that 3× load fits
on a shared 2-core machine (the ratios are what matters). Open loop: Poisson arrivals at 0.5, 1,
1.5 and 3 × capacity (capacity: 16 slots over the all-hit mean service time), each request with a
deadline (the client gives up and closes; it is sent as ``Healthgauge-Timeout``).

Setups, each through a real HAProxy, in interleaved phases (the order rotates per load):

- ``roundrobin``: HAProxy ``balance roundrobin`` straight to the workers;
- ``leastconn``: HAProxy ``balance leastconn``, ``maxconn 4`` per worker and its queue;
- ``broker``: HAProxy → healthgauge broker → workers (affinity on the key, cheap LIFO, expensive FIFO).

Goodput is 200s within their deadline per second. Printed: a table per load, ratios to
leastconn, the cheap class's p99 against its unloaded p99, the affinity hit ratio, the broker's
CPU per request; ``--out DIR`` gets plots and a JSON of every figure.

    python bench/broker/run.py --quick          # ~3 minutes
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import sys
import tempfile
import time
import urllib.request
from collections.abc import Coroutine
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))

from support.brokers import Proc, broker, broker_config, metrics, stop_all, worker  # noqa: E402
from support.haproxy import HAProxy  # noqa: E402

SETUPS = ("roundrobin", "leastconn", "broker")
WORKERS = 4
SLOTS = 4

HAPROXY = """\
global
    stats socket {sock} mode 600 level admin
    maxconn 4000
defaults
    mode http
    timeout connect 1s
    timeout client 30s
    timeout server 30s
    timeout queue {queue_timeout}
    option abortonclose
    http-reuse always
frontend fe_rr
    bind 127.0.0.1:{fe_port}
    default_backend rr
frontend fe_lc
    bind 127.0.0.1:{lc_port}
    default_backend lc
frontend fe_br
    bind 127.0.0.1:{br_port}
    default_backend br
backend rr
    balance roundrobin
{rr_servers}
backend lc
    balance leastconn
{lc_servers}
backend br
    balance roundrobin
    server b0 127.0.0.1:{broker}
"""

BROKER_EXTRA = """\
timeout = "{timeout}"
refusal_backoff = "50ms"
affinity_wait = "{affinity_wait}"
[affinity]
path_segment = 2
[queues.interactive]
capacity = 256
max_wait = "{cheap_deadline}"
[queues.batch]
capacity = 64
max_wait = "{expensive_deadline}"
max_share = {batch_share}
[[rules]]
class = "batch"
path_prefix = "/pdf/"
"""


@dataclass
class Sample:
    cheap: bool
    status: int
    latency: float
    ok: bool  # 200 within its deadline
    hit: bool
    wait: float = 0.0  # the broker's Server-Timing broker-wait, seconds


@dataclass
class Phase:
    setup: str
    load: float
    rate: float
    seconds: float
    samples: list[Sample] = field(default_factory=list)
    broker_cpu_us: float | None = None
    broker_requests: int = 0
    affinity: float | None = None  # share of keyed answers from the key's home
    affinity_recent: float | None = None  # ... from its home or a worker that served it lately

    def goodput(self) -> float:
        return sum(s.ok for s in self.samples) / self.seconds

    def p(self, q: float, *, cheap: bool) -> float:
        lat = sorted(s.latency for s in self.samples if s.cheap == cheap and s.ok)
        return lat[min(len(lat) - 1, int(q * len(lat)))] if lat else float("nan")

    def cache_hits(self) -> float:
        served = [s for s in self.samples if s.status == 200]
        return sum(s.hit for s in served) / len(served) if served else float("nan")


class Client:
    """Keep-alive HTTP/1.1 connections to one port; a request that passes its deadline is abandoned
    and its connection closed (what a client with a timeout does)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def get(self, path: str, deadline: float) -> tuple[int, bool, float]:
        conn = self.idle.pop() if self.idle else None
        timeout_ms = int(deadline * 1000)
        request = f"GET {path} HTTP/1.1\r\nHost: bench\r\nHealthgauge-Timeout: {timeout_ms}\r\n\r\n".encode()
        writer = None
        try:
            async with asyncio.timeout(deadline):
                if conn is None:
                    conn = await asyncio.open_connection("127.0.0.1", self.port)
                reader, writer = conn
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                status = int(head[9:12])
                lower = head.lower()
                at = lower.find(b"content-length:")
                length = int(lower[at + 15 : lower.find(b"\r\n", at)]) if at != -1 else 0
                if length:
                    await reader.readexactly(length)
                keep = b"connection: close" not in lower
        except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError):
            if writer is not None:
                writer.transport.abort()
            return 0, False, 0.0
        at = lower.find(b"broker-wait;dur=")
        wait = float(lower[at + 16 : lower.find(b"\r\n", at)]) / 1000 if at != -1 else 0.0
        if keep and len(self.idle) < 512:
            self.idle.append(conn)
        else:
            writer.close()
        return status, b"x-cache: hit" in lower, wait

    def close(self) -> None:
        for _, writer in self.idle:
            writer.transport.abort()
        self.idle.clear()


async def open_loop(port: int, rate: float, seconds: float, args: argparse.Namespace, seed: int) -> list[Sample]:
    rng = random.Random(seed)
    client = Client(port)
    samples: list[Sample] = []
    tasks: set[asyncio.Task[None]] = set()
    cheap_deadline = args.cheap_deadline * args.scale
    expensive_deadline = args.expensive_deadline * args.scale

    async def one(cheap: bool, key: int) -> None:
        deadline = cheap_deadline if cheap else expensive_deadline
        start = time.perf_counter()
        status, hit, wait = await client.get(f"/{'img' if cheap else 'pdf'}/k{key}", deadline)
        latency = time.perf_counter() - start
        samples.append(Sample(cheap, status, latency, status == 200 and latency <= deadline, hit, wait))

    loop = asyncio.get_running_loop()
    begin = loop.time()
    at = 0.0
    while at < seconds:
        at += rng.expovariate(rate)
        delay = begin + at - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        task = loop.create_task(one(rng.random() >= args.expensive_share, rng.randrange(args.keys)))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    if tasks:
        await asyncio.wait(tasks, timeout=expensive_deadline + 2)
    client.close()
    return samples


def proc_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def reset_caches(ports: list[int]) -> None:
    for port in ports:
        req = urllib.request.Request(f"http://127.0.0.1:{port}/reset", method="POST")
        with urllib.request.urlopen(req, timeout=5) as resp:
            resp.read()


def run_phase(rig: Rig, setup: str, load: float, args: argparse.Namespace, seed: int) -> Phase:
    rate = load * rig.capacity
    phase = Phase(setup, load, rate, args.seconds)
    reset_caches(rig.worker_ports)
    port = {"roundrobin": rig.hap.fe_port, "leastconn": rig.lc_port, "broker": rig.br_port}[setup]
    # Warm the caches for a second at the same load (not counted), then measure.
    _run(open_loop(port, rate, args.warmup, args, seed + 1000))
    before = metrics(rig.broker.ports["admin"]) if setup == "broker" else {}
    cpu0 = proc_cpu(rig.broker.pid)
    phase.samples = _run(open_loop(port, rate, args.seconds, args, seed))
    if setup == "broker":
        after = metrics(rig.broker.ports["admin"])
        key = 'healthgauge_broker_requests_total{class="%s"}'
        counted = [after.get(key % c, 0) - before.get(key % c, 0) for c in ("interactive", "batch")]
        phase.broker_requests = int(sum(counted))
        cpu = proc_cpu(rig.broker.pid) - cpu0
        phase.broker_cpu_us = cpu / max(1, phase.broker_requests) * 1e6
        name = 'healthgauge_broker_affinity_total{result="%s"}'
        home, recent, miss = (after.get(name % r, 0) - before.get(name % r, 0) for r in ("home", "recent", "miss"))
        total = home + recent + miss
        phase.affinity = home / total if total else None
        phase.affinity_recent = (home + recent) / total if total else None
        if args.verbose:
            moved = {k.removeprefix("healthgauge_broker_"): round(v - before.get(k, 0)) for k, v in after.items()
                     if "_total" in k and v != before.get(k, 0)}  # fmt: skip
            print(f"    broker counters: {moved}")
    time.sleep(0.5)
    return phase


def _run(coro: Coroutine[object, object, list[Sample]]) -> list[Sample]:
    """Run on uvloop (as the broker does), so the load generator is not the bottleneck."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coro)


@dataclass
class Rig:
    workers: list[Proc]
    broker: Proc
    hap: HAProxy
    lc_port: int
    br_port: int
    capacity: float

    @property
    def worker_ports(self) -> list[int]:
        return [w.ports["http"] for w in self.workers]


@contextlib.contextmanager
def rig(args: argparse.Namespace, workdir: Path):  # type: ignore[no-untyped-def]
    started: list[Proc] = []
    try:
        workers = []
        for i in range(WORKERS):
            w = worker(workdir, f"w{i}", "--limit", str(SLOTS), "--cores", str(SLOTS),
                       "--cheap-ms", str(args.cheap_ms * args.scale), "--expensive-ms",
                       str(args.expensive_ms * args.scale), "--miss-factor", str(args.miss_factor),
                       "--cache", str(args.cache))  # fmt: skip
            started.append(w)
            w.start()
            workers.append(w)
        cheap_deadline = args.cheap_deadline * args.scale
        expensive_deadline = args.expensive_deadline * args.scale
        extra = BROKER_EXTRA.format(
            timeout=f"{expensive_deadline}s", cheap_deadline=f"{cheap_deadline}s",
            affinity_wait=f"{args.affinity_wait_ms * args.scale}ms",
            expensive_deadline=f"{expensive_deadline}s", batch_share=args.batch_share,
        )  # fmt: skip
        config = broker_config({f"w{i}": w.ports["http"] for i, w in enumerate(workers)}, extra=extra,
                               worker_extra=f"max_inflight = {SLOTS}")  # fmt: skip
        b = broker(workdir, "b0", config)
        started.append(b)
        b.start()
        from support.procs import free_port

        lc_port, br_port = free_port(), free_port()
        servers = "\n".join(f"    server w{i} 127.0.0.1:{w.ports['http']}" for i, w in enumerate(workers))
        lc = "\n".join(f"    server w{i} 127.0.0.1:{w.ports['http']} maxconn {SLOTS}" for i, w in enumerate(workers))
        ports = {"broker": b.ports["proxy"], "lc_port": lc_port, "br_port": br_port}
        queue = f"{int(expensive_deadline * 1000)}ms"
        with HAProxy(workdir, HAPROXY, rr_servers=servers, lc_servers=lc, queue_timeout=queue, **ports) as hap:
            mean = (1 - args.expensive_share) * args.cheap_ms + args.expensive_share * args.expensive_ms
            capacity = WORKERS * SLOTS / (mean * args.scale / 1000)
            yield Rig(workers, b, hap, lc_port, br_port, capacity)
    finally:
        stop_all(started)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="short phases: 8 s each (default 20 s)")
    p.add_argument("--seconds", type=float, default=None)
    p.add_argument("--warmup", type=float, default=2.0)
    p.add_argument("--scale", type=float, default=4.0, help="multiply every service time and deadline")
    p.add_argument("--loads", default="0.1,0.5,1,1.5,3", help="multiples of capacity; 0.1 is 'unloaded'")
    p.add_argument("--cheap-ms", type=float, default=2.0)
    p.add_argument("--expensive-ms", type=float, default=200.0)
    p.add_argument("--expensive-share", type=float, default=0.1)
    p.add_argument("--miss-factor", type=float, default=2.0)
    p.add_argument("--keys", type=int, default=200)
    p.add_argument("--cache", type=int, default=80, help="keys each worker keeps (LRU)")
    p.add_argument("--cheap-deadline", type=float, default=0.25, help="seconds, before --scale")
    p.add_argument("--expensive-deadline", type=float, default=0.6, help="seconds, before --scale")
    p.add_argument("--affinity-wait-ms", type=float, default=5.0, help="broker's affinity_wait, before --scale")
    p.add_argument("--batch-share", type=float, default=0.75, help="the broker's max_share for batch")
    p.add_argument("--verbose", action="store_true", help="print the broker's counters that moved, per phase")
    p.add_argument("--setups", default=",".join(SETUPS), help="a subset of roundrobin,leastconn,broker")
    p.add_argument("--out", type=Path, default=None, help="write plots and results.json here")
    args = p.parse_args()
    if args.seconds is None:
        args.seconds = 8.0 if args.quick else 20.0
    loads = [float(x) for x in args.loads.split(",")]
    phases: list[Phase] = []
    with tempfile.TemporaryDirectory(prefix="hg-bench-broker-") as tmp, rig(args, Path(tmp)) as r:
        print(f"capacity {r.capacity:.0f} req/s (4 workers x 4 slots, all-hit mean service, scale {args.scale})")
        chosen = [s for s in SETUPS if s in args.setups.split(",")]
        for i, load in enumerate(loads):
            order = chosen[i % len(chosen) :] + chosen[: i % len(chosen)]
            for setup in order:
                phase = run_phase(r, setup, load, args, seed=17 + i)
                phases.append(phase)
                cheap = "/".join(f"{phase.p(q, cheap=True) * 1e3:.0f}" for q in (0.5, 0.9, 0.95, 0.99))
                codes: dict[int, int] = {}
                for s in phase.samples:
                    codes[s.status] = codes.get(s.status, 0) + 1
                waits = sorted(s.wait for s in phase.samples if s.cheap and s.ok)
                wait = "/".join(f"{waits[int(q * (len(waits) - 1))] * 1e3:.0f}" for q in (0.5, 0.99)) if waits else "-"
                print(f"  {load:>4}x {setup:<10} goodput {phase.goodput():7.1f}/s  cheap p50/90/95/99 {cheap} ms  "
                      f"(broker-wait p50/99 {wait} ms)  "
                      f"cache hits {phase.cache_hits():.0%}  affinity home {phase.affinity or 0:.0%} "
                      f"home+recent {phase.affinity_recent or 0:.0%}  statuses {codes}",
                      flush=True)  # fmt: skip
    if len(chosen) == len(SETUPS):
        report(phases, loads, args)
    return 0


def report(phases: list[Phase], loads: list[float], args: argparse.Namespace) -> None:
    get = {(ph.setup, ph.load): ph for ph in phases}
    print("\nload  offered/s | goodput/s rr / lc / broker | broker÷lc | cheap p99 ms rr / lc / broker"
          " | cache hits rr / lc / broker | broker CPU µs/req")  # fmt: skip
    rows = []
    for load in loads:
        rr, lc, br = (get[(s, load)] for s in SETUPS)
        ratio = br.goodput() / lc.goodput() if lc.goodput() else float("inf")
        row = {
            "load": load, "offered": br.rate,
            "goodput": {s: get[(s, load)].goodput() for s in SETUPS},
            "cheap_p99_ms": {s: get[(s, load)].p(0.99, cheap=True) * 1e3 for s in SETUPS},
            "cheap_p50_ms": {s: get[(s, load)].p(0.5, cheap=True) * 1e3 for s in SETUPS},
            "cache_hits": {s: get[(s, load)].cache_hits() for s in SETUPS},
            "broker_vs_leastconn": ratio, "broker_cpu_us": br.broker_cpu_us, "affinity": br.affinity,
        }  # fmt: skip
        rows.append(row)
        goodput = " / ".join(f"{p.goodput():6.1f}" for p in (rr, lc, br))
        p99 = " / ".join(f"{p.p(0.99, cheap=True) * 1e3:5.0f}" for p in (rr, lc, br))
        hits = " / ".join(f"{p.cache_hits():.0%}" for p in (rr, lc, br))
        print(f"{load:>4}x {br.rate:9.0f} | {goodput} | {ratio:8.2f}x | {p99} | {hits} | {br.broker_cpu_us:.0f}")
    verdicts = targets(get, loads)
    for line in verdicts:
        print(line)
    print("(one shared 2-core machine; every figure from the same run, phases interleaved)")
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "results.json").write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()},
                                                           "rows": rows, "targets": verdicts}, indent=1))  # fmt: skip
        plot(rows, args.out)


def targets(get: dict[tuple[str, float], Phase], loads: list[float]) -> list[str]:
    out = []
    measured = [x for x in loads if x >= 0.5]
    for load in measured:
        br, lc = get[("broker", load)].goodput(), get[("leastconn", load)].goodput()
        need = 1.3 if load >= 3 else 1.0
        ratio = br / lc if lc else float("inf")
        verdict = "PASS" if br >= need * lc else "FAIL"
        said = f"broker {br:.1f}/s vs leastconn {lc:.1f}/s = {ratio:.2f}x"
        out.append(f"target goodput at {load}x: {said} (need >= {need}x): {verdict}")
    base = min(loads)
    if 1.5 in loads:
        p99, unloaded = get[("broker", 1.5)].p(0.99, cheap=True), get[("broker", base)].p(0.99, cheap=True)
        out.append(f"target cheap p99 at 1.5x: {p99 * 1e3:.1f} ms vs unloaded ({base}x) {unloaded * 1e3:.1f} ms = "
                   f"{p99 / unloaded:.2f}x (need <= 3x): {'PASS' if p99 <= 3 * unloaded else 'FAIL'}")  # fmt: skip
    aff = [get[("broker", x)].affinity for x in measured if get[("broker", x)].affinity is not None]
    if aff:
        low = min(aff)  # type: ignore[type-var]
        verdict = "PASS" if low >= 0.8 else "FAIL"
        out.append(f"target affinity hit ratio: lowest {low:.0%} over loads {measured} (need >= 80%): {verdict}")
    cpu = [get[("broker", x)].broker_cpu_us for x in measured]
    worst = max(c for c in cpu if c is not None)
    out.append(f"target broker CPU: worst {worst:.0f} µs/request (need <= 300): {'PASS' if worst <= 300 else 'FAIL'}")
    return out


def plot(rows: list[dict[str, object]], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    loads = [r["load"] for r in rows]
    for setup in SETUPS:
        axes[0].plot(loads, [r["goodput"][setup] for r in rows], marker="o", label=setup)  # type: ignore[index]
        axes[1].plot(loads, [r["cheap_p99_ms"][setup] for r in rows], marker="o", label=setup)  # type: ignore[index]
        axes[2].plot(loads, [r["cache_hits"][setup] for r in rows], marker="o", label=setup)  # type: ignore[index]
    axes[0].plot(loads, [r["offered"] for r in rows], ls=":", color="grey", label="offered")
    axes[0].set(title="goodput within deadline", xlabel="load (× capacity)", ylabel="requests/s")
    axes[1].set(title="cheap class p99 (served in time)", xlabel="load (× capacity)", ylabel="ms", yscale="log")
    axes[2].set(title="worker cache hits", xlabel="load (× capacity)", ylabel="share of 200s", ylim=(0, 1.05))
    for ax in axes:
        ax.legend()
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out / "broker.png", dpi=90)
    print(f"plots: {out / 'broker.png'}")


if __name__ == "__main__":
    sys.exit(main())
