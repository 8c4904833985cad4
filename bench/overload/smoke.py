"""Real-process smoke test of the overload middleware (spec §12). Loopback only, bounded.

    python bench/overload/smoke.py                 # §12 profile: 0.5× 15 s → 2× 15 s → 0.5× 15 s
    python bench/overload/smoke.py --profile issue # 0.5× → 1× → 3× → 0.5×
    python bench/overload/smoke.py --short --json out.json   # the pytest's bounded version

1. uvicorn (one worker, pinned to CPU 0) serves ``smoke_app.py``: 20 ms of awaited I/O then ≈ 2 ms
   of CPU per request, wrapped in healthgauge's ASGI middleware with the agent-check responder;
   through httptools and uvloop when installed (the bench extra installs them, as
   ``uvicorn[standard]`` does in production; with h11 each request costs ~400 us before the app,
   rejected or not, and 2× load leaves ~80 % of capacity for real work);
2. capacity ``cap``: a closed loop of 32 clients for 5 s against the *bare* app (the throughput
   of 200 answers), measured before and again after the run: calibrating through the limiter
   would let a limiter that sheds too much lower its own bar;
3. the open-loop generator (``loadgen.py``, its own process, pinned to CPU 1) runs the profile,
   polling the agent-check port; latency counts from each request's scheduled send time;
4. it prints the simulation's columns per phase and the §12 checks, then the SIGTERM drain check
   and the middleware's CPU overhead per request against the bare app.

A run is reported INVALID (not failed) when the generator's send lag p99 exceeds 20 ms (the
generator, not the server, was the bottleneck) or when the capacity measured after the run differs
from the one before by more than 30 % (another workload took the CPU mid-run: the load multiples
no longer mean anything).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from importlib.util import find_spec
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
PY = sys.executable
MAX_SEND_LAG = 0.020
MAX_CAPACITY_DRIFT = 0.30
DEADLINE = 1.0


def _pin(cpu: int) -> Any:
    def pin() -> None:
        if hasattr(os, "sched_setaffinity") and cpu < (os.cpu_count() or 1):
            os.sched_setaffinity(0, {cpu})

    return pin


class Server:
    """``smoke_app.py`` in its own process; always stopped on exit."""

    def __init__(self, mode: str, *, io: float = 0.02, cpu: float = 0.002, grace: float = 2.0) -> None:
        argv = [PY, str(HERE / "smoke_app.py"), "--mode", mode, "--io", str(io), "--cpu", str(cpu)]
        argv += ["--grace", str(grace)]
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, preexec_fn=_pin(0))
        self.ports: dict[str, Any] = {}
        deadline = time.monotonic() + 20
        assert self.proc.stdout is not None
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline().decode(errors="replace")
            if not line and self.proc.poll() is not None:
                break
            if line.startswith("READY "):
                self.ports = json.loads(line[6:])
                break
        if not self.ports:
            self.stop()
            raise RuntimeError(f"smoke_app {mode} did not start")
        threading.Thread(target=self._drain_output, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.ports['http']}"

    def _drain_output(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            sys.stderr.write("  [server] " + line.decode(errors="replace"))

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def loadgen(*args: str, wall: float) -> dict[str, Any]:
    out = subprocess.run(
        [PY, str(HERE / "loadgen.py"), *args],
        capture_output=True,
        timeout=wall,
        check=True,
        preexec_fn=_pin(1),
    )
    result: dict[str, Any] = json.loads(out.stdout)
    return result


def calibrate(server: Server, seconds: float) -> float:
    result = loadgen("--url", server.url + "/work", "--closed", "32", "--seconds", str(seconds), wall=seconds + 30)
    return float(result["rps"])


def pct(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile as in spec §11.6 (index ``min(n − 1, floor(q·n))``)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def phase_rows(result: dict[str, Any], names: list[str], cap: float) -> list[dict[str, Any]]:
    rows = []
    start = 0.0
    for name, (rate, duration) in zip(names, result["phases"], strict=True):
        recs = [r for r in result["records"] if start <= r[0] < start + duration]
        ok = [r[2] for r in recs if r[1] == 200 and r[2] <= DEADLINE]
        shed = [r for r in recs if r[1] in (503, 504)]
        late = [r for r in recs if r[1] == 0 or (r[1] == 200 and r[2] > DEADLINE)]
        other = len(recs) - len(ok) - len(shed) - len(late)
        n = max(1, len(recs))
        rows.append(
            {
                "phase": name,
                "offered_rps": rate,
                "attempts": len(recs),
                "goodput_pct": 100.0 * len(ok) / duration / cap,
                "shed_pct": 100.0 * len(shed) / n,
                "late_pct": 100.0 * len(late) / n,
                "other": other,
                "p50_ms": None if not ok else 1000 * (pct(ok, 0.5) or 0),
                "p99_ms": None if not ok else 1000 * (pct(ok, 0.99) or 0),
                "start": start,
                "end": start + duration,
            }
        )
        start += duration
    return rows


def recovery(result: dict[str, Any], end_of_overload: float, end: float, *, io: float, cpu: float) -> float | None:
    """Spec §11.6: the first 1-s window after the overload with p99 ≤ max(100 ms, 3 × (S + io))
    and ≥ 95 % of its attempts ok; ``None`` if none qualifies."""
    bound = max(0.1, 3 * (cpu + io))
    t = end_of_overload
    while t + 1 <= end + 1e-9:
        recs = [r for r in result["records"] if t <= r[0] < t + 1]
        ok = [r[2] for r in recs if r[1] == 200 and r[2] <= DEADLINE]
        if recs and len(ok) >= 0.95 * len(recs) and (pct(ok, 0.99) or 0) <= bound:
            return t - end_of_overload
        t += 1
    return None


def weight_of(line: str) -> int | None:
    for word in line.split():
        if word.endswith("%") and word[:-1].isdigit():
            return int(word[:-1])
    return None


def agent_checks(result: dict[str, Any], rows: list[dict[str, Any]], overload: int) -> dict[str, Any]:
    polls = [(t, weight_of(line)) for t, line in result["agent"]]

    def weights(t0: float, t1: float) -> list[int]:
        return [w for t, w in polls if t0 <= t < t1 and w is not None]

    first, hot = rows[0], rows[overload]
    before = weights(first["start"] + 1, first["end"])  # skip the first second (warm-up of the stream)
    during = weights(hot["start"] + (hot["end"] - hot["start"]) / 2, hot["end"])
    w_before = pct([float(w) for w in before], 0.5)
    w_during = pct([float(w) for w in during], 0.5)
    returned_after = None
    if w_before is not None:
        for t, w in polls:
            if t >= hot["end"] and w is not None and w >= w_before - 5:
                returned_after = t - hot["end"]
                break
    return {"weight_before": w_before, "weight_during": w_during, "weight_returned_after_s": returned_after}


def sigterm_check(server: Server, grace: float, slow: float) -> dict[str, Any]:
    """SIGTERM with requests in flight: the agent says ``drain``, in-flight requests complete, new
    ones are still served during the grace period, and the process exits in time."""
    results: list[int] = []

    def call(path: str) -> None:
        try:
            with urllib.request.urlopen(server.url + path, timeout=slow + grace + 5) as resp:
                results.append(resp.status)
        except urllib.error.HTTPError as e:  # a refusal: its status, so a report says which
            results.append(e.code)
        except Exception:
            results.append(0)

    slow_calls = [threading.Thread(target=call, args=(f"/work?io={slow}",)) for _ in range(3)]
    for th in slow_calls:
        th.start()
    time.sleep(0.3)
    t0 = time.monotonic()
    server.proc.send_signal(signal.SIGTERM)
    time.sleep(0.2)
    during = threading.Thread(target=call, args=("/work",))
    during.start()
    # The agent is asked until it says drain, within the first half of the grace period: on a
    # loaded host the server's loop can run its SIGTERM handler after the first 0.2 s (seen once
    # in 4 runs beside a busy core), which is not a failure to drain.
    until = t0 + grace / 2
    while not (drained := "drain" in _ask_agent(server.ports["agent"])) and time.monotonic() < until:
        time.sleep(0.05)
    during.join(5)
    exited = None
    try:
        server.proc.wait(grace + slow + 10)
        exited = time.monotonic() - t0
    except subprocess.TimeoutExpired:
        pass
    for th in slow_calls:
        th.join(5)
    return {
        "agent_drain": drained,
        "in_flight_ok": results.count(200) >= 4 and len(results) == 4,
        "statuses": results,
        "exit_after_s": exited,
        "exit_within_bound": exited is not None and exited <= grace + slow + 3,
        "returncode": server.proc.returncode,
    }


def _ask_agent(port: int) -> str:
    import socket

    # 3 s: a loaded shared host delays a busy loop's answer (the agent shares the server's loop).
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=3) as s:
            s.settimeout(3)
            return s.recv(256).decode(errors="replace")
    except OSError as e:  # the server already gone: no answer, said as such
        return f"no answer: {e}"


def overhead(seconds: float, rounds: int) -> dict[str, Any]:
    """Server CPU per 200 answer, bare app vs the same app in the middleware, alternating runs
    (min of ``rounds`` each); once with the smoke handler and once with an empty one."""
    out: dict[str, Any] = {}
    for label, io, cpu in (("smoke handler", 0.02, 0.002), ("empty handler", 0.0, 0.0)):
        best: dict[str, float] = {}
        for _ in range(rounds):
            for mode in ("bare", "protected"):
                with Server(mode, io=io, cpu=cpu) as server:
                    args = ("--url", server.url + "/work", "--closed", "16", "--seconds", str(seconds))
                    loadgen(*args, "--seconds", "0.5", wall=30)  # warm up
                    before = server.cpu_seconds()
                    result = loadgen(*args, wall=seconds + 30)
                    per = (server.cpu_seconds() - before) / max(1, result["ok"])
                    best[mode] = min(best.get(mode, float("inf")), per)
        out[label] = {
            "bare_us": best["bare"] * 1e6,
            "protected_us": best["protected"] * 1e6,
            "overhead_pct": 100.0 * (best["protected"] / best["bare"] - 1),
        }
    return out


PROFILES = {
    "spec": [("0.5x", 0.5, 15.0), ("2x", 2.0, 15.0), ("after 0.5x", 0.5, 15.0)],
    "issue": [("0.5x", 0.5, 10.0), ("1x", 1.0, 10.0), ("3x", 3.0, 10.0), ("after 0.5x", 0.5, 10.0)],
    "short": [("0.5x", 0.5, 5.0), ("2x", 2.0, 6.0), ("after 0.5x", 0.5, 7.0)],
}


def fmt(value: Any, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def uvicorn_stack() -> str:
    """The HTTP parser and event loop uvicorn picks with its defaults (``http="auto"``, ``loop="auto"``)."""
    http = "httptools" if find_spec("httptools") else "h11"
    loop = "uvloop" if find_spec("uvloop") else "asyncio"
    return f"{http} + {loop}"


def run(args: argparse.Namespace) -> dict[str, Any]:
    profile = PROFILES["short" if args.short else args.profile]
    names = [p[0] for p in profile]
    overload = max(range(len(profile)), key=lambda i: profile[i][1])
    report: dict[str, Any] = {"profile": names}
    seconds = 3.0 if args.short else 5.0
    with Server("bare") as bare:
        cap = calibrate(bare, seconds)
    report["cap_rps"] = cap
    report["uvicorn_stack"] = uvicorn_stack()
    stack = report["uvicorn_stack"]
    print(f"capacity of the bare app (closed loop, 32 clients, uvicorn on {stack}): {cap:.0f} rps", flush=True)
    with Server("protected", grace=args.grace) as server:
        phases = ",".join(f"{cap * mult:.1f}:{dur}" for _, mult, dur in profile)
        total = sum(p[2] for p in profile)
        result = loadgen(
            "--url", server.url + "/work", "--phases", phases, "--agent", f"127.0.0.1:{server.ports['agent']}",
            "--seed", str(args.seed), wall=total + 60,
        )  # fmt: skip
        rows = phase_rows(result, names, cap)
        lag99 = pct(result["send_lag"], 0.99) or 0.0
        marked = [r for r in result["records"] if r[1] == 503]
        report.update(
            phases=rows,
            send_lag_p99_ms=1000 * lag99,
            valid=lag99 <= MAX_SEND_LAG,
            requests=len(result["records"]),
            all_503_marked=all(r[3] & 1 for r in marked),
            recovery_s=recovery(result, rows[overload]["end"], rows[-1]["end"] - 1, io=0.02, cpu=0.002),
            **agent_checks(result, rows, overload),
        )
        report["sigterm"] = sigterm_check(server, args.grace, slow=args.grace + 1.0)
    with Server("bare") as bare:
        report["cap_after_rps"] = calibrate(bare, seconds)
    drift = abs(report["cap_after_rps"] - cap) / cap
    report["capacity_drift"] = drift
    report["valid"] = report["valid"] and drift <= MAX_CAPACITY_DRIFT
    unloaded_p99 = rows[0]["p99_ms"]
    hot = rows[overload]
    report["checks"] = {
        f"goodput_{names[overload]}_ge_85pct_cap": hot["goodput_pct"] >= 85.0,
        "p99_2x_le_5x_unloaded": unloaded_p99 is not None
        and hot["p99_ms"] is not None
        and hot["p99_ms"] <= 5 * unloaded_p99,
        "every_503_marked": report["all_503_marked"],
        "weight_lower_during_overload": report["weight_before"] is not None
        and report["weight_during"] is not None
        and report["weight_during"] < report["weight_before"],
        "weight_returns_within_5s": report["weight_returned_after_s"] is not None
        and report["weight_returned_after_s"] <= 5.0,
        "sigterm_drain": report["sigterm"]["agent_drain"]
        and report["sigterm"]["in_flight_ok"]
        and report["sigterm"]["exit_within_bound"],
    }
    if not args.no_overhead:
        report["overhead"] = overhead(2.0 if args.short else 4.0, 1 if args.short else 2)
    return report


def show(report: dict[str, Any]) -> None:
    print(
        f"requests {report['requests']}, generator send lag p99 {report['send_lag_p99_ms']:.1f} ms, "
        f"capacity after the run {report['cap_after_rps']:.0f} rps ({100 * report['capacity_drift']:.0f} % drift)"
    )
    if not report["valid"]:
        print("  -> INVALID RUN: generator lag > 20 ms or capacity drift > 30 % (a busy host)")
    print()
    head = f"{'phase':<12}{'offered':>9}{'goodput%cap':>13}{'shed%':>8}{'late%':>8}{'p50 ms':>9}{'p99 ms':>9}"
    print(head)
    for r in report["phases"]:
        print(
            f"{r['phase']:<12}{r['offered_rps']:>9.0f}{r['goodput_pct']:>13.1f}{r['shed_pct']:>8.2f}"
            f"{r['late_pct']:>8.2f}{fmt(r['p50_ms'], '.1f'):>9}{fmt(r['p99_ms'], '.1f'):>9}"
        )
    print(f"recovery after overload: {fmt(report['recovery_s'], '.0f')} s;", end=" ")
    print(f"shed at low load (first 0.5x): {report['phases'][0]['shed_pct']:.2f} %")
    print(
        f"agent weight: {fmt(report['weight_before'], '.0f')}% before, {fmt(report['weight_during'], '.0f')}% "
        f"during overload, back after {fmt(report['weight_returned_after_s'], '.2f')} s"
    )
    s = report["sigterm"]
    print(
        f"SIGTERM: agent drain={s['agent_drain']}, in-flight statuses {s['statuses']}, "
        f"exit after {fmt(s['exit_after_s'], '.2f')} s (rc {s['returncode']})"
    )
    print()
    for name, ok in report["checks"].items():
        print(f"  {'PASS' if ok else 'FAIL'}  {name}")
    if "overhead" in report:
        print("\nmiddleware CPU per request (server process, min of alternating runs):")
        for label, o in report["overhead"].items():
            print(
                f"  {label:<14} bare {o['bare_us']:7.0f} µs   protected {o['protected_us']:7.0f} µs   "
                f"overhead {o['overhead_pct']:+.1f} %  (target ≤ 5 % on the smoke handler)"
            )


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--profile", choices=("spec", "issue"), default="spec")
    p.add_argument("--short", action="store_true", help="a bounded ~25 s version (the pytest's)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--grace", type=float, default=2.0, help="drain grace period of the server (s)")
    p.add_argument("--no-overhead", action="store_true")
    p.add_argument("--json", default="", help="also write the report here")
    args = p.parse_args(argv)
    report = run(args)
    show(report)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
