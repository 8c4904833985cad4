"""Replay the loop-probe samples of a real server through ``LoopDelayLimit`` offline (a design aid).

    python bench/overload/real_server.py ... --trajectory T --probe-log   # records every probe sample
    python bench/overload/real_replay.py T [T ...] [--set min_growth=0.1 ...]

Prints, per file, when the limit would first enter overload and the sample lags around it. Only
the first entry is meaningful: after it, the real server's lag depended on the shedding that the
replayed limit can no longer do. Use it to check a detector change against recorded open loops
(it should enter early) and closed loops (it should never enter) before a benchmark run.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from healthgauge.overload import LoopDelayLimit


def first_entry(probes: list[list[float]], **kwargs: float) -> tuple[float | None, list[tuple[float, float]]]:
    limit = LoopDelayLimit(**kwargs)
    seen: list[tuple[float, float]] = []
    for t, lag, busy, steps, *_ in probes:
        limit.on_loop(t, lag, busy, int(steps))
        seen.append((t, lag))
        if limit.overloaded:
            return t, seen[-8:]
    return None, seen[-8:]


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("files", nargs="+", type=Path)
    p.add_argument("--set", nargs="*", default=[], help="LoopDelayLimit keyword=value")
    args = p.parse_args(argv)
    kwargs = {k: float(v) for k, v in (item.split("=", 1) for item in args.set)}
    for path in args.files:
        data = json.loads(path.read_text())
        probes = data["probes"] if isinstance(data, dict) else []
        at, last = first_entry(probes, **kwargs)
        lags = " ".join(f"{t:.2f}:{1000 * lag:.0f}" for t, lag in last)
        print(f"{path.name}: {'never' if at is None else f'{at:.2f} s'}  [{lags}]")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
