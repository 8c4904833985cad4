"""Where the default's refusals go, decision by decision, on a real server (a design aid, #11).

    python bench/overload/real_decisions.py --stack h11 --phases 280:1.5,1120:4 --runs 2
    python bench/overload/real_decisions.py --before main --stack h11 ...   # main's default too

Runs ``real_server.py --probe-log`` (``--handler cpu``, the default policy) under the open-loop
client of ``real.py`` and reads back every loop-probe sample and every decision the guard took
outside its calm path (admitted, refused at handler start after the server parsed the request, or
refused before the parser). For the last ``--window`` seconds of the run it prints: goodput and
503 share as the client saw them; the server process's CPU share (what it left idle while
refusing); how many refusals were decided on the probe's last sample while the probe was not
overdue (``stale``: the loop had caught up since, the sample described an iteration that had
ended); and the longest run of back-to-back refusals at handler start (a batch the server had
already parsed, refused one by one). Run it under the bench lock: it times real processes.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from real import DEADLINE, HERE, PIN, PY, Server, pinned  # bench scripts beside this one


def analyse(data: dict[str, Any], records: list[list[float]], window: float) -> dict[str, Any]:
    """The figures of one run (trajectory file ``data``, client ``records``) over its last ``window`` s."""
    decisions = data.get("decisions") or []
    probes = data.get("probes") or []
    hi = max((d[0] for d in decisions), default=0.0)
    lo = hi - window
    mine = [d for d in decisions if lo <= d[0] <= hi]
    count = {k: sum(1 for d in mine if d[1] == k) for k in ("admit", "refuse", "early")}
    refusals = [d for d in mine if d[1] != "admit"]
    stale = sum(1 for d in refusals if d[3])
    ticks = [p for p in probes if lo <= p[0] <= hi and len(p) > 6]
    cpu = (ticks[-1][6] - ticks[0][6]) / (ticks[-1][0] - ticks[0][0]) if len(ticks) > 1 else None
    storm, start = 0.0, None
    for d in mine:
        if d[1] == "refuse":
            start = d[0] if start is None else start
            storm = max(storm, d[0] - start)
        elif d[1] == "admit":
            start = None
    t_end = max((r[0] for r in records), default=0.0)
    seen = [r for r in records if t_end - window <= r[0] < t_end]
    ok = sum(1 for r in seen if r[1] == 200 and r[2] <= 1.0)
    return {
        "goodput": ok / window,
        "r503_pct": 100.0 * sum(1 for r in seen if r[1] == 503) / max(1, len(seen)),
        "timeouts": sum(1 for r in seen if r[1] not in (200, 503)),
        "cpu_pct": None if cpu is None else 100.0 * cpu,
        "decisions": count,
        "stale_pct": 100.0 * stale / max(1, len(refusals)),
        "storm_ms": 1000.0 * storm,
    }


def trace(data: dict[str, Any], lo: float, hi: float) -> list[str]:
    """The probe's samples between ``lo`` and ``hi`` s, one line each: time, lag, the busy share of
    the time since the previous sample, the accept queue, the limit's state after the sample
    (calm, SHED, probe), as ``real_server.py --probe-log`` records them."""
    lines, prev = [], None
    for p in data.get("probes") or []:
        if lo <= p[0] <= hi and len(p) > 8:
            gap = p[0] - prev if prev is not None else 0.0
            share = p[2] / gap if gap > 0 else 0.0
            state = ("calm", "SHED", "probe")[p[8]]
            lines.append(f"{p[0]:8.3f} lag {1000 * p[1]:7.1f} ms  busy {share:4.2f}  accept_q {p[7]:5d}  {state}")
        prev = p[0]
    return lines


def one_run(
    stack: str,
    phases: str,
    window: float,
    src: Path | None,
    keep: Path | None = None,
    name: str = "",
    policy: str = "default",
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="hg-decisions-") as tmp:
        trajectory = Path(tmp) / "trajectory.json"
        with Server(stack, "cpu", policy, trajectory, src, ("--probe-log",)) as server:
            server.get("start")
            records_path = Path(tmp) / "records.json"
            # The phases are rates here, not multiples of a capacity measured before (real.py's client())
            argv = [PY, str(HERE / "real_client.py"), "--port", str(server.port), "--mode", "open"]
            argv += ["--phases", phases, "--deadline", str(DEADLINE), "--records", str(records_path)]
            subprocess.run(argv, capture_output=True, timeout=120, check=True, preexec_fn=pinned("client"))
            time.sleep(1.2)  # the server writes its trajectory every second
        data = json.loads(trajectory.read_text())
        records = json.loads(records_path.read_text())["records"]
        if keep is not None:
            keep.mkdir(parents=True, exist_ok=True)
            (keep / f"{name}-trajectory.json").write_text(trajectory.read_text())
            (keep / f"{name}-records.json").write_text(records_path.read_text())
    return analyse(data, records, window)


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--stack", choices=("h11", "httptools", "aiohttp"), default="h11")
    p.add_argument("--phases", default="280:1.5,1120:4", help="the open-loop client's rate:seconds,...")
    p.add_argument("--window", type=float, default=3.0, help="seconds at the end of the run to read")
    p.add_argument("--runs", type=int, default=2)
    p.add_argument("--before", metavar="REV", help="also run REV's default, alternating")
    p.add_argument("--policy", choices=("default", "monitor"), default="default", help="monitor: decide, never shed")
    p.add_argument("--pin", action="store_true", help="the server on CPU 0, the load client on CPU 1")
    p.add_argument("--keep", type=Path, help="keep each run's probe log and client records in this directory")
    p.add_argument("--trace", nargs=2, type=float, metavar=("FROM", "TO"), help="print a kept run's probe samples")
    p.add_argument("--run", type=Path, help="with --trace: the kept trajectory file to read")
    args = p.parse_args(argv)
    if args.pin:
        PIN.update(server=0, client=1)
    if args.trace is not None:
        if args.run is None:
            p.error("--trace needs --run FILE (a kept *-trajectory.json)")
        print("\n".join(trace(json.loads(args.run.read_text()), *args.trace)))
        return 0
    if not 1 <= args.runs <= 10 or not 0 < args.window <= 30:
        p.error("--runs must lie in [1, 10] and --window in (0, 30]")
    with tempfile.TemporaryDirectory(prefix="hg-before-") as tmp:
        variants: dict[str, Path | None] = {"default": None}
        if args.before:
            from middleware_overhead import unpack

            variants["before"] = unpack(args.before, Path(tmp))
        print(
            "| run | variant | goodput/s | 503 % | timeouts | server CPU % | admit / refuse / early"
            " | stale % | storm ms |"
        )
        print("|---|---|---|---|---|---|---|---|---|")
        for i in range(args.runs):
            order = list(variants) if i % 2 == 0 else list(reversed(variants))
            for name in order:
                f = one_run(
                    args.stack, args.phases, args.window, variants[name], args.keep, f"{i + 1}-{name}", args.policy
                )
                c = f["decisions"]
                cpu = "-" if f["cpu_pct"] is None else f"{f['cpu_pct']:.0f}"
                print(
                    f"| {i + 1} | {name} | {f['goodput']:.0f} | {f['r503_pct']:.0f} | {f['timeouts']} | {cpu} | "
                    f"{c['admit']} / {c['refuse']} / {c['early']} | {f['stale_pct']:.0f} | {f['storm_ms']:.0f} |",
                    flush=True,
                )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
