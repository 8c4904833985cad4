"""Run a healthgauge command with its event loop watched: where the loop's time goes.

    .venv/bin/python bench/loopwatch.py OUT.json agent --config agent.toml

For finding what delays probes (``bench/soak.py --watch`` runs the soaked agent through it): every
loop callback that runs longer than :data:`SLOW` is recorded with its wall and CPU time (wall much
over CPU is time spent waiting: for the GIL while another thread holds it, or for a core); and a
sentinel thread asks to wake every millisecond and records how late it woke (a thread wanting the
GIL waits at most the switch interval for it, plus the time to get a core). Written to OUT.json at
exit: callbacks by name (count, wall, CPU, max) and percentiles of the sentinel's lateness.
Not for production: each callback costs ~1 us more.
"""

from __future__ import annotations

import asyncio.events
import atexit
import json
import sys
import threading
import time
from collections import defaultdict
from typing import Any

SLOW = 0.002  # seconds: a callback this long shows in a probe's p99


def _which(callback: Any) -> str:
    """The protocol a transport's read was for, the task (and its target) a wakeup resumed."""
    owner = getattr(callback, "__self__", None)
    protocol = getattr(owner, "_protocol", None)
    if protocol is not None:
        return f"{type(protocol).__module__.rsplit('.', 1)[-1]}.{type(protocol).__qualname__}"
    coro = getattr(owner, "get_coro", lambda: None)()
    if coro is None:
        return ""
    frame = getattr(coro, "cr_frame", None)
    target = getattr(getattr(frame, "f_locals", {}).get("self"), "target", None)
    return f"{getattr(coro, '__qualname__', '?')} {getattr(target, 'name', '')}"


def watch(out: str) -> None:
    slow: dict[str, list[float]] = defaultdict(lambda: [0, 0.0, 0.0, 0.0])  # count, wall, cpu, max
    ticks = [0]
    run = asyncio.events.Handle._run

    def timed(self: asyncio.events.Handle) -> None:
        callback = self._callback  # type: ignore[attr-defined]  # before: a handle may cancel itself
        wall, cpu = time.perf_counter(), time.thread_time()
        run(self)
        ticks[0] += 1
        took = time.perf_counter() - wall
        if took > SLOW:
            name = getattr(callback, "__qualname__", None) or repr(callback)[:80]
            name += " " + _which(callback)
            entry = slow[name]
            entry[0] += 1
            entry[1] += took
            entry[2] += time.thread_time() - cpu
            entry[3] = max(entry[3], took)

    asyncio.events.Handle._run = timed  # type: ignore[method-assign]
    late: list[float] = []
    stop = threading.Event()

    def sentinel() -> None:
        while not stop.is_set() and len(late) < 2_000_000:
            at = time.perf_counter()
            time.sleep(0.001)
            late.append(time.perf_counter() - at - 0.001)

    threading.Thread(target=sentinel, daemon=True, name="loopwatch sentinel").start()

    def dump() -> None:
        stop.set()
        ms = sorted(x * 1000 for x in late) or [0.0]
        report: dict[str, Any] = {
            "callbacks": ticks[0],
            "slow": dict(sorted(slow.items(), key=lambda kv: -kv[1][1])),
            "sentinel_late_ms": {p: ms[min(len(ms) - 1, int(len(ms) * p / 100))] for p in (50, 90, 99, 99.9)},
            "sentinel_max_ms": ms[-1],
        }
        with open(out, "w") as f:
            json.dump(report, f)

    atexit.register(dump)


def main() -> int:
    out, args = sys.argv[1], sys.argv[2:]
    watch(out)
    from healthgauge.cli import main as cli

    return cli(args)


if __name__ == "__main__":
    sys.exit(main())
