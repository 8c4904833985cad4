"""Closed-loop goodput of the 20-ms ``await`` handler, bare vs the default middleware (and the
middleware of an earlier revision), in alternating rounds: issue #11's "400 and 2,000 closed-loop
connections: goodput ≥ 95 % of bare".

    flock /work/plan/bench.lock .venv/bin/python bench/overload/closed_ab.py --rounds 3
    ... closed_ab.py --stacks httptools --conns 400 2000 --before 3c0d881

``real.py`` runs each policy's phases one after the other, minutes apart, so a host whose load
changes by the second moves one policy's figure and not the other's (one run measured the default
at 67 % of bare and, for another stack, 155 %). Here every server of a stack (``real_server.py``:
``none``, ``default``, and ``before``: the default from the git revision ``--before``, its ``src/``
first on ``PYTHONPATH``) stays up, and each round gives each one a ``--seconds`` phase of closed
loop (``real_client.py``) per connection count, the order rotated every round. Reported: the
median goodput over rounds, its ratio to bare's, the 503 share, the load average of each round.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from middleware_overhead import BEFORE, unpack  # noqa: E402  (bench scripts beside this one)
from real import Server, client  # noqa: E402

STACKS = ("h11", "httptools", "aiohttp")


def phase(port: int, conns: int, seconds: float) -> dict[str, Any]:
    result: dict[str, Any] = client(port, "closed", f"{conns}:{seconds}")["phases"][0]
    return result


def run_stack(
    stack: str, conns: list[int], rounds: int, seconds: float, before: Path | None
) -> dict[tuple[str, int], list[dict[str, Any]]]:
    variants = {"bare": ("none", None), "default": ("default", None)}
    if before is not None:
        variants["before"] = ("default", before)
    servers = {name: Server(stack, "sleep", policy, src=src) for name, (policy, src) in variants.items()}
    figures: dict[tuple[str, int], list[dict[str, Any]]] = {}
    try:
        names = list(servers)
        for turn in range(rounds):
            load = os.getloadavg()[0]
            order = names[turn % len(names) :] + names[: turn % len(names)]
            for n in conns:
                for name in order:
                    got = phase(servers[name].port, n, seconds)
                    got["load"] = load
                    figures.setdefault((name, n), []).append(got)
            print(f"  {stack} round {turn + 1}/{rounds} done, load {load:.2f}", file=sys.stderr)
    finally:
        for server in servers.values():
            server.stop()
    return figures


def report(stack: str, conns: list[int], figures: dict[tuple[str, int], list[dict[str, Any]]]) -> list[str]:
    names = sorted({name for name, _ in figures}, key=("bare", "default", "before").index)
    lines = []
    for n in conns:
        bare = statistics.median(r["goodput"] for r in figures[("bare", n)])
        cells = []
        for name in names:
            runs = figures[(name, n)]
            good = statistics.median(r["goodput"] for r in runs)
            shed = sum(r["r503"] for r in runs) / max(1, sum(r["sent"] for r in runs))
            ratios = "/".join(
                f"{r['goodput'] / max(1e-9, b['goodput']):.2f}" for r, b in zip(runs, figures[("bare", n)], strict=True)
            )
            cells.append(f"{good:.0f} ({100 * good / bare:.0f} %, 503 {100 * shed:.1f} %, rounds {ratios})")
        loads = [r["load"] for r in figures[("bare", n)]]
        lines.append(f"| {stack} | {n} | " + " | ".join(cells) + f" | {min(loads):.1f}–{max(loads):.1f} |")
    return lines


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--stacks", nargs="+", choices=STACKS, default=list(STACKS))
    p.add_argument("--conns", nargs="+", type=int, default=[50, 400, 2000])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--seconds", type=float, default=2.0)
    p.add_argument("--before", default=BEFORE, help=f"git revision for 'before' ('' for none; default {BEFORE})")
    args = p.parse_args(argv)
    if not 1 <= args.rounds <= 20 or not 0 < args.seconds <= 10:
        p.error("--rounds must lie in [1, 20] and --seconds in (0, 10]")
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    with tempfile.TemporaryDirectory(prefix="hg-before-") as tmp:
        before = unpack(args.before, Path(tmp)) if args.before else None
        header = "| stack | conns | bare goodput/s | default | " + ("before | " if before else "") + "load |"
        lines = [header, "|" + "---|" * (header.count("|") - 1)]
        for stack in args.stacks:
            lines.extend(report(stack, args.conns, run_stack(stack, args.conns, args.rounds, args.seconds, before)))
    print("\n".join(lines))
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
