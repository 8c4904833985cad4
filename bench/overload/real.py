"""The real-server overload benchmark: the reference for healthgauge's overload targets (issue #11).

    python bench/overload/real.py --quick                    # ~4 min: none, default, early; three stacks
    python bench/overload/real.py --out bench/out/real       # the full run, ~14 min on 2 cores
    python bench/overload/real.py --stacks httptools --scenarios open-cpu --policies none default
    python bench/overload/real.py --stacks h11 --scenarios open-cpu --before main   # main's default beside
    python bench/overload/real.py --stacks h11 --scenarios open-cpu --before main --pin --rounds 5

Every figure comes from real processes on loopback: a server (``real_server.py``: uvicorn with h11
+ asyncio, uvicorn with httptools + uvloop, or aiohttp) and a load client in its own process
(``real_client.py``: raw keep-alive HTTP/1.1, a deadline on every request). Policies run side by
side in one run, one server process each, taking turns scenario by scenario (the order rotates
so no policy always runs first): ``none`` (no protection), ``default`` (the middleware as the
README shows it), ``before`` (with ``--before REV``: REV's default middleware, the same way),
``early`` (the default with uvicorn's ``http=early_refusal(...)``: refusals written before uvicorn
parses the request from a connection's first refusal on; not run on aiohttp, which has none), ``fixed`` (a
fixed concurrency limit of 32), ``gradient2`` and ``aimd``
(Netflix's, windowed, their defaults), and, with ``--legacy``, healthgauge 0.x's default.

Scenarios:

- ``closed-sleep`` / ``closed-cpu``: closed loop, 10 → 50 → 400 → 2,000 keep-alive connections
  (the 20 ms ``await`` handler; the ~3 ms pure-Python handler);
- ``open-cpu`` / ``open-mixed``: open loop (Poisson) at 0.5×, 1×, 2×, 4× and again 0.5× of the
  capacity measured just before on the bare server (the ~3 ms handler; 20 ms ``await`` + 2 ms);
- ``step-cpu``: the ~3 ms handler at 1×, then a surge straight to 4× (no 2× on the way, where
  the detector usually enters in ``open-cpu``), then 0.5×;
- ``retry``: open loop at 2× on the ~3 ms handler with clients that retry a 503 at once
  (``naive``) and clients that honour ``Retry-After``;
- ``dep``: open loop at 0.5× while the handler's dependency goes from 20 ms to 200 ms and back
  (the CPU idles: nothing should be shed);
- ``cost``: the trivial handler, 50 connections, server CPU per answer with and without the
  middleware, alternating (the middleware's own cost).

Goodput = answers 200 within the client's 1 s deadline, per second. Output: a table per stack
and scenario, the issue's targets checked, ``summary.json`` and plots (goodput and p99 against
offered load, the limit and the shed share over time with the phases marked) in ``--out``.
The machine this runs on may be shared: capacity is measured before each open-loop scenario and
every figure of a policy is compared with ``none`` from the same scenario, minutes apart at most.
On a shared 2-core host one policy's figures spread by 30-60 points from run to run (issue #11,
sixth round), more than the policies differ: ``--pin`` runs every server on CPU 0 and the load
client on CPU 1 (they no longer take turns on one core, whatever else the host runs), and
``--rounds N`` repeats the whole run N times, the policies' order rotating, and prints each
figure's median and range over the rounds with the load average of each round.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
PY = sys.executable
STACKS = ("h11", "httptools", "aiohttp")
POLICIES = ("none", "default", "early", "fixed", "gradient2", "aimd")
SCENARIOS = ("closed-sleep", "closed-cpu", "open-cpu", "step-cpu", "open-mixed", "retry", "dep", "cost")
QUICK_SCENARIOS = ("closed-sleep", "open-cpu", "dep", "cost")
CONNS = (10, 50, 400, 2000)
LOADS = (0.5, 1.0, 2.0, 4.0, 0.5)
STEP = (1.0, 4.0, 0.5)  # step-cpu: a surge from capacity straight to 4x, then the fall
DEADLINE = 1.0
# One colour per policy in every plot (the run order rotates).
COLOURS = {"none": "black", "default": "tab:blue", "fixed": "tab:orange", "gradient2": "tab:green"}
COLOURS |= {
    "aimd": "tab:purple",
    "legacy": "tab:red",
    "stable": "tab:brown",
    "acceptq": "tab:cyan",
    "gone": "tab:pink",
    "skip": "gold",
}
COLOURS |= {"early": "tab:olive", "before": "tab:gray"}
COLUMNS = ("stack", "scenario", "phase", "policy", "goodput/s", "% of bare", "% of capacity", "503 %", "timeout %")
COLUMNS += ("p50 ms", "p99 ms")


@dataclass
class Run:
    """One (stack, scenario, policy) run: the client's phases and the server's trajectory."""

    stack: str
    scenario: str
    policy: str
    phases: list[dict[str, Any]]
    series: dict[str, list[int]]
    trajectory: list[list[float]]
    labels: list[str]
    capacity: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)
    round: int = 0


# --pin: the CPU of the servers and the CPU of the load client (None: wherever the host puts them).
PIN: dict[str, int] = {}


def pinned(role: str) -> Any:
    """A ``preexec_fn`` putting the child on ``PIN[role]``'s CPU (None when not pinning)."""
    cpu = PIN.get(role)
    if cpu is None or not hasattr(os, "sched_setaffinity"):
        return None

    def pin() -> None:
        os.sched_setaffinity(0, {cpu})

    return pin


class Server:
    """``real_server.py`` in its own process, stopped (by pid) on exit."""

    def __init__(
        self,
        stack: str,
        handler: str,
        policy: str,
        trajectory: Path | None = None,
        src: Path | None = None,
        extra: tuple[str, ...] = (),
    ) -> None:
        """``src``: a package tree put first on ``PYTHONPATH`` (another revision's middleware);
        ``extra``: more ``real_server.py`` arguments."""
        argv = [PY, str(HERE / "real_server.py"), "--stack", stack, "--handler", handler, "--policy", policy]
        if trajectory is not None:
            argv += ["--trajectory", str(trajectory)]
        argv += extra
        env = dict(os.environ)
        if src is not None:
            env["PYTHONPATH"] = os.pathsep.join(p for p in (str(src), env.get("PYTHONPATH", "")) if p)
        self.proc = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, preexec_fn=pinned("server")
        )
        self.port = 0
        deadline = time.monotonic() + 20
        assert self.proc.stdout is not None
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline().decode(errors="replace")
            if not line and self.proc.poll() is not None:
                break
            if line.startswith("READY "):
                self.port = int(json.loads(line[6:])["http"])
                break
        if not self.port:
            self.stop()
            tail = self.proc.stdout.read().decode(errors="replace")[-2000:] if self.proc.stdout else ""
            raise RuntimeError(f"real_server {stack} {handler} {policy} did not start:\n{tail}")

    def get(self, path: str, attempts: int = 3) -> Any:
        import urllib.request

        for attempt in range(attempts):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz/bench/{path}", timeout=10) as r:
                    return json.loads(r.read())
            except (OSError, TimeoutError):
                if attempt + 1 == attempts or self.proc.poll() is not None:
                    raise
        return None

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def client(port: int, mode: str, phases: str, *, retry: str = "none", wall: float = 120) -> dict[str, Any]:
    argv = [PY, str(HERE / "real_client.py"), "--port", str(port), "--mode", mode, "--phases", phases]
    argv += ["--retry", retry, "--deadline", str(DEADLINE)]
    out = subprocess.run(argv, capture_output=True, timeout=wall, check=True, preexec_fn=pinned("client"))
    result: dict[str, Any] = json.loads(out.stdout)
    return result


def measure_capacity(stack: str, handler: str, seconds: float) -> float:
    """Answers 200/s of the bare server under a closed loop that keeps it busy without piling up."""
    conns = 16 if handler == "cpu" else 64
    with Server(stack, handler, "none") as server:
        result = client(server.port, "closed", f"{conns}:{seconds}")
    return float(result["phases"][0]["goodput"])


# --before: the package tree of another revision, run as policy "before" (its default middleware).
BEFORE_SRC: dict[str, Path] = {}


def run_one(
    stack: str, scenario: str, policy: str, handler: str, mode: str, phases: str, labels: list[str], **kw: Any
) -> Run:
    src = BEFORE_SRC.get(policy)
    with tempfile.TemporaryDirectory(prefix="hg-real-") as tmp:
        path = Path(tmp) / "trajectory.json"
        with Server(stack, handler, "default" if src else policy, path, src) as server:
            server.get("start")
            result = client(server.port, mode, phases, **kw)
            time.sleep(1.2)  # the server writes its trajectory every second, however busy
        trajectory = json.loads(path.read_text()) if path.exists() else []
    return Run(stack, scenario, policy, result["phases"], result["series"], trajectory, labels)


def rotate(policies: list[str], turn: int) -> list[str]:
    k = turn % len(policies)
    return policies[k:] + policies[:k]


def scenario_runs(stack: str, scenario: str, policies: list[str], phase: float, turn: int) -> list[Run]:
    runs: list[Run] = []
    if stack == "aiohttp":  # no early refusal there: "early" would be "default" again
        policies = [p for p in policies if p != "early"]
    if scenario in ("closed-sleep", "closed-cpu"):
        handler = scenario.split("-")[1]
        spec = ",".join(f"{n}:{phase}" for n in CONNS)
        labels = [f"{n} conns" for n in CONNS]
        runs.extend(run_one(stack, scenario, p, handler, "closed", spec, labels) for p in rotate(policies, turn))
    elif scenario in ("open-cpu", "step-cpu", "open-mixed", "retry"):
        handler = "mixed" if scenario == "open-mixed" else "cpu"
        capacity = measure_capacity(stack, handler, phase)
        loads = (2.0,) if scenario == "retry" else STEP if scenario == "step-cpu" else LOADS
        spec = ",".join(f"{max(1.0, x * capacity):.1f}:{phase}" for x in loads)
        labels = [f"{x:g}x" for x in loads]
        labels[-1] = labels[-1] + (" after" if scenario != "retry" else "")
        for policy in rotate(policies, turn):
            modes = ("naive", "retry-after") if scenario == "retry" else ("none",)
            for retry in modes:
                run = run_one(stack, scenario, policy, handler, "open", spec, labels, retry=retry)
                run.capacity = capacity
                run.extra["retry"] = retry
                if scenario == "retry":
                    run.scenario = f"retry-{retry}"
                runs.append(run)
    elif scenario == "dep":
        capacity = measure_capacity(stack, "dep", phase)
        rate = max(1.0, 0.5 * capacity)
        spec = f"{rate:.1f}:{phase}:dep=0.02,{rate:.1f}:{2 * phase}:dep=0.2,{rate:.1f}:{phase}:dep=0.02"
        labels = ["dep 20 ms", "dep 200 ms", "dep 20 ms again"]
        for policy in rotate(policies, turn):
            run = run_one(stack, scenario, policy, "dep", "open", spec, labels)
            run.capacity = capacity
            runs.append(run)
    elif scenario == "cost":
        runs.extend(cost_runs(stack, phase))
    return runs


def cost_runs(stack: str, phase: float, rounds: int = 3) -> list[Run]:
    """Server CPU per answer for the trivial handler, bare and with the default middleware,
    alternating ``rounds`` times; the best (lowest) of each is kept."""
    best: dict[str, float] = {}
    for _ in range(rounds):
        for policy in ("none", "default"):
            with Server(stack, "trivial", policy) as server:
                cpu0 = server.get("cpu")["cpu"]
                result = client(server.port, "closed", f"50:{phase}")
                cpu1 = server.get("cpu")["cpu"]
            answered = sum(p["ok"] + p["r503"] for p in result["phases"])
            per = (cpu1 - cpu0) / max(1, answered)
            best[policy] = min(best.get(policy, per), per)
    runs = []
    for policy, per in best.items():
        run = Run(stack, "cost", policy, [], {}, [], [])
        run.extra["cpu_us_per_answer"] = per * 1e6
        runs.append(run)
    return runs


# -- reporting ---------------------------------------------------------------------------------


def pct(a: float, b: float) -> float | None:
    return None if b <= 0 else 100.0 * a / b


def rows_of(runs: list[Run]) -> list[dict[str, Any]]:
    """One row per (stack, scenario, phase, policy) with the figures relative to ``none``."""
    bare = {(r.stack, r.scenario, r.round): r for r in runs if r.policy == "none"}
    rows = []
    for r in runs:
        if r.scenario == "cost":
            continue
        base = bare.get((r.stack, r.scenario, r.round))
        for i, ph in enumerate(r.phases):
            answers = ph["sent"]
            b = base.phases[i] if base is not None else None
            rows.append(
                {
                    "stack": r.stack,
                    "scenario": r.scenario,
                    "phase": r.labels[i],
                    "policy": r.policy,
                    "goodput": round(ph["goodput"], 1),
                    "of_bare_pct": None if b is None else pct(ph["goodput"], b["goodput"]),
                    "of_capacity_pct": pct(ph["goodput"], r.capacity) if r.capacity else None,
                    "r503_pct": pct(ph["r503"], answers) or 0.0,
                    "timeout_pct": pct(ph["timeouts"], answers) or 0.0,
                    "p50_ms": ph["p50_ms"],
                    "p99_ms": ph["p99_ms"],
                    "capacity": r.capacity or None,
                    "round": r.round,
                    "recovery_s": recovery_s(r) if i == len(r.phases) - 1 and r.labels[i].endswith("after") else None,
                }
            )
    return rows


def fmt(value: Any, digits: int = 0) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def print_table(rows: list[dict[str, Any]], cost: list[Run]) -> None:
    print("| " + " | ".join(COLUMNS) + " |")
    print("|" + "---|" * len(COLUMNS))
    for r in rows:
        cells = [
            r["stack"],
            r["scenario"],
            r["phase"],
            r["policy"],
            fmt(r["goodput"]),
            fmt(r["of_bare_pct"]),
            fmt(r["of_capacity_pct"]),
            fmt(r["r503_pct"], 1),
            fmt(r["timeout_pct"], 1),
            fmt(r["p50_ms"]),
            fmt(r["p99_ms"]),
        ]
        print("| " + " | ".join(cells) + " |")
    for stack in sorted({r.stack for r in cost}):
        per = {r.policy: r.extra["cpu_us_per_answer"] for r in cost if r.stack == stack}
        if "none" in per and "default" in per:
            share = 100.0 * (per["default"] - per["none"]) / per["none"]
            print(
                f"\ncost {stack}: trivial handler, server CPU per answer: bare {per['none']:.1f} µs, "
                f"default middleware {per['default']:.1f} µs (+{share:.1f} %)"
            )


def unloaded_p99(rows: list[dict[str, Any]], stack: str, scenario: str) -> float | None:
    for r in rows:
        if (r["stack"], r["scenario"], r["policy"], r["phase"]) == (stack, scenario, "none", "0.5x"):
            return r["p99_ms"]  # type: ignore[no-any-return]
    return None


def recovery_s(run: Run, phase_s: float = 0.0) -> float | None:
    """Seconds after the overload ends (start of the last phase) until no 100-ms bucket sheds."""
    series = run.series.get("r503", [])
    if not series:
        return None
    bucket = 0.1
    start = int(sum(p["seconds"] for p in run.phases[:-1]) / bucket)
    last = None
    for i in range(start, len(series)):
        if series[i]:
            last = i
    return 0.0 if last is None else round((last + 1 - start) * bucket, 1)


def check_targets(runs: list[Run], rows: list[dict[str, Any]], phase: float) -> list[dict[str, Any]]:
    """Issue #11 item 2, for the default policy on each stack."""
    checks: list[dict[str, Any]] = []

    def add(stack: str, name: str, value: str, ok: bool | None) -> None:
        checks.append({"stack": stack, "target": name, "measured": value, "pass": ok})

    by = {(r["stack"], r["scenario"], r["phase"], r["policy"]): r for r in rows}
    for stack in sorted({r.stack for r in runs}):
        for scenario, phases in (
            ("closed-sleep", ("10 conns", "50 conns")),
            ("open-cpu", ("0.5x", "1x")),
            ("open-mixed", ("0.5x", "1x")),
        ):
            for ph in phases:
                d = by.get((stack, scenario, ph, "default"))
                if d is None or d["of_bare_pct"] is None:
                    continue
                ok = d["of_bare_pct"] >= 98 and d["r503_pct"] <= 0.5
                add(
                    stack,
                    f"≤ capacity, {scenario} {ph}: ≥ 98 % of bare, 503 ≤ 0.5 %",
                    f"{d['of_bare_pct']:.0f} %, {d['r503_pct']:.1f} %",
                    ok,
                )
        for scenario in ("closed-sleep", "closed-cpu"):
            for ph in ("400 conns", "2000 conns"):
                d = by.get((stack, scenario, ph, "default"))
                if d is None or d["of_bare_pct"] is None:
                    continue
                add(stack, f"{scenario} {ph}: ≥ 95 % of bare", f"{d['of_bare_pct']:.0f} %", d["of_bare_pct"] >= 95)
        for scenario in ("open-cpu", "step-cpu", "open-mixed"):
            # step-cpu has no 0.5x before its surge: open-cpu's unloaded p99 (same handler)
            base_p99 = unloaded_p99(rows, stack, scenario) or unloaded_p99(rows, stack, "open-cpu")
            for ph in ("2x", "4x"):
                d = by.get((stack, scenario, ph, "default"))
                b = by.get((stack, scenario, ph, "none"))
                if d is None or b is None:
                    continue
                cap_ok = (d["of_capacity_pct"] or 0) >= 90 and d["goodput"] >= b["goodput"]
                add(
                    stack,
                    f"{scenario} {ph}: goodput ≥ 90 % of capacity and ≥ bare",
                    f"{fmt(d['of_capacity_pct'])} % (bare {fmt(b['of_capacity_pct'])} %)",
                    cap_ok,
                )
                if base_p99 is not None and d["p99_ms"] is not None:
                    add(
                        stack,
                        f"{scenario} {ph}: p99 ≤ 5× unloaded p99 ({base_p99:.0f} ms)",
                        f"{d['p99_ms']:.0f} ms",
                        d["p99_ms"] <= 5 * base_p99,
                    )
            for run in runs:
                if (run.stack, run.scenario, run.policy) == (stack, scenario, "default"):
                    rec = recovery_s(run, phase)
                    add(
                        stack,
                        f"{scenario}: no shedding within 2 s after the load falls",
                        f"{rec} s",
                        rec is not None and rec <= 2,
                    )
        d = by.get((stack, "dep", "dep 200 ms", "default"))
        if d is not None:
            add(stack, "slow dependency: sheds nothing", f"{d['r503_pct']:.2f} %", d["r503_pct"] == 0)
        per = {r.policy: r.extra["cpu_us_per_answer"] for r in runs if r.stack == stack and r.scenario == "cost"}
        if "none" in per and "default" in per:
            share = 100.0 * (per["default"] - per["none"]) / per["none"]
            add(stack, "middleware CPU ≤ 5 % of a trivial handler's", f"{share:.1f} %", share <= 5)
    return checks


def print_pivot(rows: list[dict[str, Any]]) -> None:
    """Per stack, one row per scenario and load, one column per policy: goodput/s (503 %)."""
    order = ("none", "before", *POLICIES[1:], "legacy", "stable", "acceptq", "gone", "skip")
    policies = [p for p in order if any(r["policy"] == p for r in rows)]
    for stack in sorted({r["stack"] for r in rows}):
        print(f"\n**{stack}**: goodput/s [% of capacity] (503 % of answers), p99 ms of successes\n")
        print("| scenario | load | " + " | ".join(policies) + " |")
        print("|---|---|" + "---|" * len(policies))
        keys: list[tuple[str, str]] = []
        for r in rows:
            if r["stack"] == stack and (r["scenario"], r["phase"]) not in keys:
                keys.append((r["scenario"], r["phase"]))
        by = {(r["scenario"], r["phase"], r["policy"]): r for r in rows if r["stack"] == stack}
        for scenario, phase in keys:
            cells = []
            for policy in policies:
                r = by.get((scenario, phase, policy))
                if r is None:
                    cells.append("-")
                    continue
                cap = "" if r.get("of_capacity_pct") is None else f" [{r['of_capacity_pct']:.0f} %]"
                cells.append(f"{r['goodput']:.0f}{cap} ({r['r503_pct']:.0f} %), {fmt(r['p99_ms'])}")
            print(f"| {scenario} | {phase} | " + " | ".join(cells) + " |")


def spread(values: list[float]) -> str:
    """``median [min-max]`` of ``values`` ("-" when none)."""
    if not values:
        return "-"
    ordered = sorted(values)
    n = len(ordered)
    mid = ordered[n // 2] if n % 2 else (ordered[n // 2 - 1] + ordered[n // 2]) / 2
    return f"{mid:.0f} [{ordered[0]:.0f}-{ordered[-1]:.0f}]"


def print_medians(rows: list[dict[str, Any]], loads: list[float]) -> None:
    """Over the rounds, per stack, scenario, load and policy: median [range] of goodput (% of
    capacity for open loops, % of bare for closed ones), 503 %, timeouts %, p99 of successes, and
    for a phase after the overload the seconds until no 100-ms bucket sheds."""
    print(
        f"\nmedians [ranges] over {len(loads)} rounds; load average at each round's start: "
        + ", ".join(f"{x:.1f}" for x in loads)
    )
    print("\n| stack | scenario | load | policy | goodput | 503 % | timeout % | p99 ms | recovery s |")
    print("|---|---|---|---|---|---|---|---|---|")
    keys: list[tuple[str, str, str, str]] = []
    for r in rows:
        key = (r["stack"], r["scenario"], r["phase"], r["policy"])
        if key not in keys:
            keys.append(key)
    for key in keys:
        sel = [r for r in rows if (r["stack"], r["scenario"], r["phase"], r["policy"]) == key]
        relative = "of_capacity_pct" if sel[0]["capacity"] else "of_bare_pct"
        unit = "% of capacity" if relative == "of_capacity_pct" else "% of bare"
        good = spread([r[relative] for r in sel if r[relative] is not None])
        p99 = spread([r["p99_ms"] for r in sel if r["p99_ms"] is not None])
        rec = _tenths(sel) if any(r.get("recovery_s") is not None for r in sel) else "-"
        cells = [*key, f"{good} {unit}", spread([r["r503_pct"] for r in sel]), spread([r["timeout_pct"] for r in sel])]
        print("| " + " | ".join([*cells, p99, rec]) + " |")


def _tenths(sel: list[dict[str, Any]]) -> str:
    """The recovery times (0.1-s resolution) of ``sel``: median [min-max]."""
    values = sorted(r["recovery_s"] for r in sel if r.get("recovery_s") is not None)
    n = len(values)
    mid = values[n // 2] if n % 2 else (values[n // 2 - 1] + values[n // 2]) / 2
    return f"{mid:.1f} [{values[0]:.1f}-{values[-1]:.1f}]"


def print_checks(checks: list[dict[str, Any]]) -> None:
    print("\n| stack | target (issue #11 item 2) | measured | |")
    print("|---|---|---|---|")
    for c in checks:
        verdict = "pass" if c["pass"] else "FAIL"
        print(f"| {c['stack']} | {c['target']} | {c['measured']} | {verdict} |")


def plot(runs: list[Run], rows: list[dict[str, Any]], out: Path) -> list[str]:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no plots (pip install -e '.[bench]')")
        return []
    written = []
    stacks = sorted({r.stack for r in runs})
    for scenario in ("open-cpu", "open-mixed"):
        sel = [r for r in rows if r["scenario"] == scenario and not r["phase"].endswith("after")]
        if not sel:
            continue
        fig, axes = plt.subplots(2, len(stacks), figsize=(5 * len(stacks), 7), squeeze=False)
        for j, stack in enumerate(stacks):
            for policy in sorted({r["policy"] for r in sel}):
                pts = [r for r in sel if r["stack"] == stack and r["policy"] == policy]
                x = [float(r["phase"].rstrip("x")) for r in pts]
                colour = COLOURS.get(policy)
                axes[0][j].plot(x, [r["of_capacity_pct"] or 0 for r in pts], marker="o", label=policy, color=colour)
                axes[1][j].plot(x, [r["p99_ms"] or float("nan") for r in pts], marker="o", label=policy, color=colour)
            axes[0][j].set_title(f"{stack}: goodput")
            axes[0][j].set_ylabel("% of capacity (200 within 1 s)")
            axes[1][j].set_title(f"{stack}: p99 of successes")
            axes[1][j].set_ylabel("ms")
            axes[1][j].set_yscale("log")
            for ax in (axes[0][j], axes[1][j]):
                ax.set_xlabel("offered load (× capacity)")
                ax.grid(alpha=0.3)
        axes[0][0].legend()
        fig.suptitle(f"{scenario}: goodput and p99 against offered load")
        fig.tight_layout()
        path = out / f"{scenario}-vs-load.png"
        fig.savefig(path, dpi=90)
        plt.close(fig)
        written.append(str(path))
    for scenario in ("open-cpu", "open-mixed", "closed-sleep", "dep"):
        sel_runs = [r for r in runs if r.scenario == scenario and r.policy != "none"]
        if not sel_runs:
            continue
        fig, axes = plt.subplots(2, len(stacks), figsize=(5 * len(stacks), 6), squeeze=False)
        for j, stack in enumerate(stacks):
            for run in (r for r in sel_runs if r.stack == stack):
                t = [s[0] for s in run.trajectory]
                limit = [s[1] for s in run.trajectory]
                axes[0][j].plot(t, limit, label=run.policy, color=COLOURS.get(run.policy))
                ok, shed = run.series.get("ok", []), run.series.get("r503", [])
                share = [100.0 * s / (s + o) if s + o else 0.0 for o, s in zip(ok, shed, strict=False)]
                times = [0.1 * i for i in range(len(share))]
                axes[1][j].plot(times, share, label=run.policy, color=COLOURS.get(run.policy))
            edges, acc = [], 0.0
            first = next((r for r in sel_runs if r.stack == stack), None)
            if first is not None:
                for ph, label in zip(first.phases, first.labels, strict=False):
                    for ax in axes[:, j]:
                        ax.axvline(acc, color="grey", lw=0.5)
                    axes[0][j].text(
                        acc + 0.05,
                        0.03,
                        label,
                        fontsize=7,
                        rotation=90,
                        va="bottom",
                        transform=axes[0][j].get_xaxis_transform(),
                    )
                    edges.append(acc)
                    acc += ph["seconds"]
            axes[0][j].set_yscale("log")
            axes[0][j].set_title(f"{stack}: concurrency limit")
            axes[1][j].set_title(f"{stack}: 503 share (100 ms buckets)")
            axes[1][j].set_xlabel("s")
            axes[1][j].set_ylabel("% of answers")
        axes[0][0].legend(fontsize=7)
        fig.suptitle(f"{scenario}: limit and shedding over time (phases marked)")
        fig.tight_layout()
        path = out / f"{scenario}-over-time.png"
        fig.savefig(path, dpi=90)
        plt.close(fig)
        written.append(str(path))
    return written


def print_refusals(runs: list[Run]) -> None:
    """Per run, the server's refusals by reason and how many were answered before the HTTP parser
    (``early``: ``early_refusal``), from the trajectory's last sample."""
    lines = []
    for r in runs:
        last = r.trajectory[-1] if r.trajectory else None
        details = last[8] if last is not None and len(last) > 8 and isinstance(last[8], dict) else {}
        reasons = {k[9:]: v for k, v in details.items() if k.startswith("rejected_")}
        if reasons:
            early = details.get("early_refused", 0)
            by = ", ".join(f"{k} {v}" for k, v in sorted(reasons.items()))
            lines.append(f"{r.stack} {r.scenario} {r.policy}: refused {by}; before the parser {early}")
    if lines:
        print("\nrefusals (server side, whole run)\n" + "\n".join(lines))


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="none, default, early; four scenarios, 1.5-s phases")
    p.add_argument("--stacks", nargs="+", choices=STACKS, default=list(STACKS))
    p.add_argument("--scenarios", nargs="+", choices=SCENARIOS)
    p.add_argument("--policies", nargs="+", choices=(*POLICIES, "legacy", "stable", "acceptq", "gone", "skip"))
    p.add_argument("--legacy", action="store_true", help="add healthgauge 0.x's default policy")
    p.add_argument("--phase", type=float, help="seconds per load phase (default 1.5)")
    p.add_argument("--out", default="bench/out/real")
    p.add_argument("--report", type=Path, help="print the tables of an earlier run's summary.json; run nothing")
    p.add_argument("--before", metavar="REV", help="also run REV's default middleware, as policy 'before'")
    p.add_argument("--pin", action="store_true", help="servers on CPU 0, the load client on CPU 1")
    p.add_argument("--rounds", type=int, default=1, help="repeat the run, print medians and ranges (1-20)")
    args = p.parse_args(argv)
    if not 1 <= args.rounds <= 20:
        p.error("--rounds must lie in [1, 20]")
    if args.pin and (os.cpu_count() or 1) >= 2:
        PIN.update(server=0, client=1)
    if args.report is not None:
        summary = json.loads(args.report.read_text())
        print_pivot(summary["rows"])
        print_checks(summary["checks"])
        return 0
    scenarios = args.scenarios or list(QUICK_SCENARIOS if args.quick else SCENARIOS)
    policies = args.policies or (["none", "default", "early"] if args.quick else list(POLICIES))
    if args.legacy and "legacy" not in policies:
        policies.append("legacy")
    if "none" not in policies:
        policies.insert(0, "none")
    phase = args.phase or 1.5
    with tempfile.TemporaryDirectory(prefix="hg-before-") as tmp:
        if args.before:
            from middleware_overhead import unpack

            BEFORE_SRC["before"] = unpack(args.before, Path(tmp))
            policies.insert(1, "before")
        return run(args, scenarios, policies, phase)


def run(args: argparse.Namespace, scenarios: list[str], policies: list[str], phase: float) -> int:
    """Every (stack, scenario) with every policy; the tables, checks, plots and summary.json."""
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    load0 = os.getloadavg()[0]
    runs: list[Run] = []
    loads: list[float] = []
    turn = 0
    for k in range(args.rounds):
        loads.append(os.getloadavg()[0])
        for stack in args.stacks:
            for scenario in scenarios:
                started = time.monotonic()
                batch = scenario_runs(stack, scenario, policies, phase, turn)
                for r in batch:
                    r.round = k
                runs.extend(batch)
                turn += 1
                print(f"  {k}: {stack} {scenario}: {time.monotonic() - started:.0f} s", file=sys.stderr, flush=True)
    rows = rows_of(runs)
    cost = [r for r in runs if r.scenario == "cost"]
    print(
        f"\nreal-server overload benchmark: {time.monotonic() - t0:.0f} s, {os.cpu_count()} cores, "
        f"load average {load0:.1f} → {os.getloadavg()[0]:.1f} (a shared machine: read ratios, not absolutes)\n"
    )
    print_table(rows, cost)
    if args.rounds > 1:
        print_medians(rows, loads)
        checks: list[dict[str, Any]] = []
    else:
        print_pivot(rows)
        checks = check_targets(runs, rows, phase)
        print_checks(checks)
    print_refusals(runs)
    plots = plot(runs, rows, out)
    summary = {
        "phase_s": phase,
        "deadline_s": DEADLINE,
        "load_average": [load0, os.getloadavg()[0]],
        "round_load_averages": loads,
        "pinned": dict(PIN),
        "rows": rows,
        "checks": checks,
        "cost_us_per_answer": {f"{r.stack}/{r.policy}": r.extra["cpu_us_per_answer"] for r in cost},
        "trajectories": {
            f"{r.stack}/{r.scenario}/{r.policy}": r.trajectory for r in runs if r.trajectory and r.policy != "none"
        },
        "plots": plots,
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    print(f"\nwrote {out / 'summary.json'}" + (f" and {len(plots)} plots" if plots else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
