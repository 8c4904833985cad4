"""The overload benchmark (spec §11): scenarios S1-S5 × baselines, anchors and healthgauge's
policies × seeds, in a deterministic virtual-clock simulation of healthgauge's real objects.

    .venv/bin/python bench/overload/run.py --out DIR

writes DIR/summary.json (scenario → policy → goodput_pct, shed_pct, late_pct, p50_ms, p99_ms,
recovery_s, low_load_shed_pct; the default policy under "default"; each figure the worse of the
seeds), DIR/summary.csv (one row per scenario, policy, seed and phase), DIR/summary_by_seed.json,
DIR/results.md (the tables in Markdown), DIR/trajectories/*.csv (every 100 ms of each run) and
DIR/*.png; prints the table, the columns
where another policy beats the default, the pass/fail checks against spec §11.8 for each seed,
and the micro-benchmark of admission + completion. Exit status 1 if a target fails.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import micro
from overload_sim import plots, report
from overload_sim.policies import policies_for
from overload_sim.report import run_figures
from overload_sim.runner import Result, Task, execute
from overload_sim.scenarios import SCENARIOS

SWEEP_LIMITS = (6, 8, 10, 12, 14, 16, 20, 24, 32, 48)
RUNTIME_BUDGET_S = 120.0
# Longest first, so the pool's two workers finish together.
COST = {"S4": 0, "S1": 1, "S2": 2, "S3": 3, "S1-hold": 4, "S5": 5}


def tasks(scenarios: Sequence[str], policies: Sequence[str] | None, seeds: Sequence[int], sweep: bool) -> list[Task]:
    out = []
    for scenario in scenarios:
        for policy in policies_for(scenario):
            if policies is None or policy in policies:
                out += [Task(scenario, policy, seed) for seed in seeds]
    if sweep:
        out += [Task("S1-hold", f"static_inflight_{limit}", seed, limit) for limit in SWEEP_LIMITS for seed in seeds]
    return sorted(out, key=lambda t: (COST.get(t.scenario, 9), t.policy, t.seed))


class Progress:
    """A one-line progress bar on stderr."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.done = 0
        self.started = time.monotonic()
        self.tty = sys.stderr.isatty()

    def step(self, label: str) -> None:
        self.done += 1
        width = 30
        filled = round(width * self.done / self.total)
        bar = "#" * filled + "-" * (width - filled)
        line = f"[{bar}] {self.done:>3}/{self.total} runs  {time.monotonic() - self.started:5.1f} s  {label:<40}"
        if self.tty:
            sys.stderr.write("\r" + line)
            if self.done == self.total:
                sys.stderr.write("\n")
        elif self.done == self.total or self.done % max(1, self.total // 10) == 0:
            sys.stderr.write(line.rstrip() + "\n")
        sys.stderr.flush()


def run_all(todo: list[Task], out: Path, jobs: int) -> list[Result]:
    progress = Progress(len(todo))
    results: list[Result] = []
    if jobs <= 1:
        for task in todo:
            results.append(execute(task, out))
            progress.step(task.key)
        return results
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        futures = {pool.submit(execute, task, out): task for task in todo}
        for future in as_completed(futures):
            results.append(future.result())
            progress.step(futures[future].key)
    return results


def by_seed(results: Sequence[Result]) -> dict[str, object]:
    out: dict[str, dict[str, dict[str, object]]] = {}
    for r in sorted(results, key=lambda r: (r.task.scenario, r.task.policy, r.task.seed)):
        if r.task.sweep_limit is not None:
            continue
        figures = run_figures(SCENARIOS[r.task.scenario], r)
        out.setdefault(r.task.scenario, {}).setdefault(r.task.policy, {})[f"seed{r.task.seed}"] = figures
    return out


def parse(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("bench/out/overload"), help="output directory")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1), help="worker processes")
    parser.add_argument("--scenarios", nargs="+", default=list(SCENARIOS), choices=list(SCENARIOS))
    parser.add_argument("--policies", nargs="+", default=None, help="only these policies (default: all)")
    parser.add_argument("--no-sweep", action="store_true", help="skip the static-limit sweep (trajectory target)")
    parser.add_argument("--no-plots", action="store_true")
    parser.add_argument("--no-micro", action="store_true", help="skip the admission micro-benchmark")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    out: Path = args.out
    (out / "trajectories").mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    todo = tasks(args.scenarios, args.policies, args.seeds, sweep=not args.no_sweep and "S1" in args.scenarios)
    print(f"{len(todo)} runs on {args.jobs} worker(s), seeds {args.seeds}; writing to {out}", file=sys.stderr)
    results = run_all(todo, out, args.jobs)
    elapsed = time.monotonic() - started
    cpu = sum(r.cpu_s for r in results)

    summary = report.summarize(results)
    report.write_json(out / "summary.json", summary)
    report.write_summary_csv(out / "summary.csv", results)
    report.write_json(out / "summary_by_seed.json", by_seed(results))
    if not args.no_plots:
        seed = args.seeds[0]
        for scenario in ("S1", "S2"):
            if scenario in args.scenarios:
                plots.load_plots(results, out, scenario, seed)
        for scenario in ("S1", "S2", "S3", "S4"):
            if scenario in args.scenarios:
                plots.limit_plot(results, out, scenario, seed)

    print(report.table(summary))
    notes = report.column_notes(summary)
    (out / "results.md").write_text(report.markdown(summary, notes))
    if notes:
        print(
            "\nWhere a baseline or anchor beats the default on a column (beyond the seed noise: 1 point of"
            "\ngoodput, 0.1 point of shed/late, 5 % of latency; shed, late and latency only among policies"
            "\nwithin 5 points of the default's goodput):"
        )
        for note in notes:
            print(f"  - {note}")
    for seed in args.seeds:
        best = report.best_static(results, seed)
        if best is not None:
            rows = "  ".join(
                f"{limit}: {good:.1f}%/{p99:.0f}ms" for limit, good, p99 in report.sweep_rows(results, seed)
            )
            print(f"\nStatic sweep, S1 3x hold, seed {seed} (L: goodput/p99): {rows}")
            noise = report.SWEEP_NOISE_POINTS
            print(f"  best static L = {best[0]} (lowest p99 within {noise:g} points of the top goodput)")
    text, all_ok = report.checks_text({seed: report.seed_checks(results, seed) for seed in args.seeds})
    print(text)
    cpu_by_scenario: dict[str, float] = {}
    for r in results:
        cpu_by_scenario[r.task.scenario] = cpu_by_scenario.get(r.task.scenario, 0.0) + r.cpu_s
    print("\nCPU by scenario: " + ", ".join(f"{k} {v:.1f} s" for k, v in sorted(cpu_by_scenario.items())))
    runtime_ok = elapsed <= RUNTIME_BUDGET_S
    print(
        f"\n  {'PASS' if runtime_ok else 'FAIL'}  simulation wall time {elapsed:.1f} s on {args.jobs} worker(s) "
        f"(target < {RUNTIME_BUDGET_S:.0f} s; {cpu:.1f} s of CPU in the runs, {cpu / elapsed:.2f} x parallel)"
    )
    if not args.no_micro:
        micro_text, micro_ok = micro.report(micro.measure())
        print("\nMicro-benchmark, admission + completion (bench/overload/micro.py):")
        print(micro_text)
        all_ok = all_ok and micro_ok
    print(f"\nWrote {out / 'summary.json'}, summary.csv, summary_by_seed.json, results.md, trajectories/, *.png")
    return 0 if all_ok and runtime_ok else 1


if __name__ == "__main__":
    sys.exit(main())
