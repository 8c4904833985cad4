"""Where the agent stops parsing on the event loop and hands a page to a worker thread.

    .venv/bin/python bench/parse_offload.py

For pages of growing size (the rules read 3 metric names; the rest of the page is other
families, as on a real exporter), prints the parse time on the loop and the round trip of the same
parse through ``asyncio.to_thread``. A parse on the loop delays every probe queued behind it by
its whole duration; a thread hop costs a fixed overhead but lets the loop keep answering. The
thresholds (``OFFLOAD_BYTES`` and ``OFFLOAD_BYTES_ALL_NAMES`` in
``healthgauge/agent/_scrape.py``) are the sizes where an inline parse reaches about half a
millisecond, for the rules' few names and for every name (a rule with a regex name selector).
"""

from __future__ import annotations

import asyncio
import time

from healthgauge.agent._scrape import OFFLOAD_BYTES, OFFLOAD_BYTES_ALL_NAMES
from healthgauge.exposition import parse

NAMES = frozenset({"app_state", "queue_depth", "app_last_iteration_ts"})


def page(families: int) -> bytes:
    lines = ["app_state 1", "queue_depth 42", "app_last_iteration_ts 1700000000.5"]
    for i in range(families):
        lines += [f"# HELP other_{i} Something else.", f"# TYPE other_{i} gauge"]
        lines += [f'other_{i}{{shard="{j}",zone="eu-west-1a"}} {j * 1.5}' for j in range(4)]
    return ("\n".join(lines) + "\n").encode()


def best(fn: object, runs: int) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append(time.perf_counter() - t0)
    return sorted(times)[len(times) // 4]


async def hop(data: bytes, runs: int) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        await asyncio.to_thread(parse, data, names=NAMES)
        times.append(time.perf_counter() - t0)
    return sorted(times)[len(times) // 4]


def main() -> None:
    print(f"OFFLOAD_BYTES = {OFFLOAD_BYTES}, OFFLOAD_BYTES_ALL_NAMES = {OFFLOAD_BYTES_ALL_NAMES}")
    print(f"{'page bytes':>10}  {'inline, 3 names':>15}  {'inline, all names':>17}  {'via thread, 3 names':>19}")
    for families in (10, 50, 100, 200, 400, 800, 1600, 6400):
        data = page(families)
        runs = max(5, 2000 // families)
        inline = best(lambda data=data: parse(data, names=NAMES), runs)
        every = best(lambda data=data: parse(data), runs)
        threaded = asyncio.run(hop(data, runs))
        print(f"{len(data):>10}  {inline * 1e3:>12.3f} ms  {every * 1e3:>14.3f} ms  {threaded * 1e3:>16.3f} ms")


if __name__ == "__main__":
    main()
