"""Closed-loop goodput of the 20-ms ``await`` handler, bare vs the default middleware (and the
middleware of an earlier revision), in alternating rounds: issue #11's "400 and 2,000 closed-loop
connections: goodput ≥ 95 % of bare".

    flock /work/plan/bench.lock .venv/bin/python bench/overload/closed_ab.py
    ... closed_ab.py --stacks httptools --conns 400 2000 --before 3c0d881 --control

``real.py`` runs each policy's phases one after the other, minutes apart, so a host whose load
changes by the second moves one policy's figure and not the other's (one run measured the default
at 67 % of bare and, for another stack, 155 %). Here every server of a stack (``real_server.py``:
``none``, ``default``, and ``before``: the default from the git revision ``--before``, its
``src/`` first on ``PYTHONPATH``) stays up, pinned to CPU 0 (the clients to CPU 1), and each round
gives each one a ``--seconds`` phase of closed loop (``real_client.py``) per connection count, the
order rotated every round. Reported: the median goodput over rounds, its ratio to bare's, the 503
share, the load average of each round, and the ratio to bare *within each round* (median and
quartiles over rounds): the host's speed changes by the second, so only phases seconds apart
compare.

How many rounds: on this project's shared 2-core VM (the server pinned to one core and at 100 %
of it, the client on the other) the same bare aiohttp server answered 6,000-10,300/s at 400
clients in the rounds of one run, and a second bare server (``--control``, an A/A test: the noise
floor) came out at 0.78-1.34 of the first in single rounds (0.67-1.46 at 2,000). Three rounds of
2 s (the old default) reported the default on aiohttp at 400 clients at 66 % of bare in one run
and 91 % in another; twelve of 1 s put it at 96 % [quartiles 86-107 %] beside the control's 100 %
[94-113 %]. Read the within-round median with its quartiles, beside the control.
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


# Servers on one core, this script and its clients on the other (as middleware_overhead.py): each
# server at 100 % of its core, so goodput is 1 / its CPU per answer, whatever the client costs.
SERVER_CPU, CLIENT_CPU = 0, 1


def pin(pid: int, cpu: int) -> None:
    """Every thread of process ``pid`` (0: this one, and so the clients it starts) on ``cpu``."""
    if not hasattr(os, "sched_setaffinity") or (os.cpu_count() or 1) < 2:
        return
    tasks = [0] if pid == 0 else [int(t) for t in os.listdir(f"/proc/{pid}/task")]
    for tid in tasks:
        os.sched_setaffinity(tid, {cpu})


def run_stack(
    stack: str,
    conns: list[int],
    rounds: int,
    seconds: float,
    before: Path | None,
    control: bool = False,
    also: tuple[str, ...] = (),
) -> dict[tuple[str, int], list[dict[str, Any]]]:
    variants: dict[str, tuple[str, Path | None]] = {"bare": ("none", None)}
    if control:
        variants["control"] = ("none", None)  # a second bare server: the noise floor
    variants["default"] = ("default", None)
    if before is not None:
        variants["before"] = ("default", before)
    for policy in also:  # real_server.py's other policies, e.g. passthru, noprobe: where the cost is
        variants[policy] = (policy, None)
    servers: dict[str, Server] = {}
    figures: dict[tuple[str, int], list[dict[str, Any]]] = {}
    try:  # a server that does not start stops the ones started before it
        for name, (policy, src) in variants.items():
            servers[name] = Server(stack, "sleep", policy, src=src)
            pin(servers[name].proc.pid, SERVER_CPU)
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
    names = list(dict.fromkeys(name for name, _ in figures))  # in the order run_stack made them
    lines = []
    for n in conns:
        bare = statistics.median(r["goodput"] for r in figures[("bare", n)])
        cells = []
        for name in names:
            runs = figures[(name, n)]
            good = statistics.median(r["goodput"] for r in runs)
            shed = sum(r["r503"] for r in runs) / max(1, sum(r["sent"] for r in runs))
            paired = sorted(
                r["goodput"] / max(1e-9, b["goodput"]) for r, b in zip(runs, figures[("bare", n)], strict=True)
            )
            q1, q3 = quartiles(paired)
            cells.append(
                f"{good:.0f} ({100 * good / bare:.0f} %, 503 {100 * shed:.1f} %,"
                f" in-round {100 * statistics.median(paired):.0f} % [{100 * q1:.0f}-{100 * q3:.0f}])"
            )
        loads = [r["load"] for r in figures[("bare", n)]]
        lines.append(f"| {stack} | {n} | " + " | ".join(cells) + f" | {min(loads):.1f}–{max(loads):.1f} |")
    return lines


def quartiles(ordered: list[float]) -> tuple[float, float]:
    """The lower and upper quartiles of sorted values (nearest rank; the values themselves if < 4)."""
    if len(ordered) < 4:
        return ordered[0], ordered[-1]
    return ordered[len(ordered) // 4], ordered[(3 * len(ordered)) // 4]


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--stacks", nargs="+", choices=STACKS, default=list(STACKS))
    p.add_argument("--conns", nargs="+", type=int, default=[50, 400, 2000])
    p.add_argument("--rounds", type=int, default=12)
    p.add_argument("--seconds", type=float, default=1.0)
    p.add_argument("--control", action="store_true", help="a second bare server (A/A: the noise floor)")
    p.add_argument("--before", default=BEFORE, help=f"git revision for 'before' ('' for none; default {BEFORE})")
    p.add_argument(
        "--also", nargs="+", default=[], metavar="POLICY", help="real_server.py policies run beside (passthru, noprobe)"
    )
    args = p.parse_args(argv)
    if not 1 <= args.rounds <= 40 or not 0 < args.seconds <= 10:
        p.error("--rounds must lie in [1, 40] and --seconds in (0, 10]")
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    pin(0, CLIENT_CPU)
    with tempfile.TemporaryDirectory(prefix="hg-before-") as tmp:
        before = unpack(args.before, Path(tmp)) if args.before else None
        header = "| stack | conns | bare goodput/s | " + ("control | " if args.control else "") + "default | "
        header += ("before | " if before else "") + "".join(f"{policy} | " for policy in args.also) + "load |"
        lines = [header, "|" + "---|" * (header.count("|") - 1)]
        for stack in args.stacks:
            figures = run_stack(stack, args.conns, args.rounds, args.seconds, before, args.control, tuple(args.also))
            lines.extend(report(stack, args.conns, figures))
    print("\n".join(lines))
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
