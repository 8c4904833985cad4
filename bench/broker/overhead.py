"""What the broker itself costs: CPU per request and the latency it adds, at a fixed open-loop rate
(issue #17 targets: ≤ 300 µs CPU per request, ≤ 1 ms added p50 at 1,000 requests/s).

One worker that answers at once (examples/broker/worker.py, ``--cheap-ms 0``, limit 256), hit at
``--rate`` requests/s with Poisson arrivals over keep-alive connections, alternately straight and
through ``healthgauge broker`` (``--rounds`` of each, interleaved). The broker's CPU is read from
``/proc/PID/stat`` around its rounds and divided by the requests it counted.

    python bench/broker/overhead.py --quick
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import Client, _run, proc_cpu

from support.brokers import broker, broker_config, metrics, worker

COUNTED = 'healthgauge_broker_requests_total{class="interactive"}'


async def load(port: int, rate: float, seconds: float, seed: int) -> list[float]:
    rng = random.Random(seed)
    client = Client(port)
    latencies: list[float] = []
    tasks: set[asyncio.Task[None]] = set()

    async def one(key: int) -> None:
        start = time.perf_counter()
        status, _, _ = await client.get(f"/img/k{key}", 5.0)
        if status == 200:
            latencies.append(time.perf_counter() - start)

    loop = asyncio.get_running_loop()
    begin, at = loop.time(), 0.0
    while at < seconds:
        at += rng.expovariate(rate)
        delay = begin + at - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        task = loop.create_task(one(rng.randrange(1000)))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    if tasks:
        await asyncio.wait(tasks, timeout=10)
    client.close()
    return latencies  # type: ignore[return-value]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rate", type=float, default=1000.0)
    p.add_argument("--seconds", type=float, default=None, help="per round (default 8, --quick 4)")
    p.add_argument("--rounds", type=int, default=None, help="rounds of each (default 4, --quick 2)")
    p.add_argument("--quick", action="store_true")
    args = p.parse_args()
    seconds = args.seconds or (4.0 if args.quick else 8.0)
    rounds = args.rounds or (2 if args.quick else 4)
    with tempfile.TemporaryDirectory(prefix="hg-bench-overhead-") as tmp:
        workdir = Path(tmp)
        with worker(workdir, "w", "--cheap-ms", "0", "--limit", "256", "--cores", "256") as w:
            config = broker_config({"w": w.ports["http"]}, worker_extra="max_inflight = 256")
            with broker(workdir, "b", config) as b:
                direct: list[float] = []
                brokered: list[float] = []
                cpu = requests = 0.0
                for r in range(rounds):
                    for via in ("broker", "direct") if r % 2 else ("direct", "broker"):
                        port = b.ports["proxy"] if via == "broker" else w.ports["http"]
                        before = metrics(b.ports["admin"]).get(COUNTED, 0)
                        cpu0 = proc_cpu(b.pid)
                        lat = _run(load(port, args.rate, seconds, seed=r))  # type: ignore[arg-type]
                        if via == "broker":
                            cpu += proc_cpu(b.pid) - cpu0
                            after = metrics(b.ports["admin"])[COUNTED]
                            requests += after - before
                            brokered += lat
                        else:
                            direct += lat
                        print(f"  round {r} {via:<7} {len(lat) / seconds:7.0f} answers/s  p50 "
                              f"{statistics.median(lat) * 1e3:.2f} ms", flush=True)  # fmt: skip
    p50_direct, p50_broker = statistics.median(direct), statistics.median(brokered)
    per_request = cpu / max(requests, 1) * 1e6
    print(f"\nat {args.rate:.0f} requests/s ({rounds} interleaved rounds of {seconds:.0f} s each, shared machine):")
    print(f"  p50 straight to the worker {p50_direct * 1e3:.2f} ms, through the broker {p50_broker * 1e3:.2f} ms: "
          f"added {(p50_broker - p50_direct) * 1e3:.2f} ms (target <= 1 ms): "
          f"{'PASS' if p50_broker - p50_direct <= 1e-3 else 'FAIL'}")  # fmt: skip
    print(f"  broker CPU {per_request:.0f} µs per request over {requests:.0f} requests (target <= 300 µs): "
          f"{'PASS' if per_request <= 300 else 'FAIL'}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
