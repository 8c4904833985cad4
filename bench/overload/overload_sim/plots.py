"""PNG plots (matplotlib, Agg): goodput and p99 against offered load, and the limit over time."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from overload_sim.policies import POLICIES
from overload_sim.runner import Result
from overload_sim.scenarios import CAPACITY_RPS, SCENARIOS

LOAD_POLICIES = (
    "no_protection",
    "static_queue_16",
    "static_inflight_16",
    "static_inflight_256",
    "folly_codel",
    "fail_at_scale_lifo_expiry",
    "gradient2",
    "vegas",
    "envoy_gradient",
    "queue_delay_aimd",
    "default",
)
LIMIT_POLICIES = ("aimd", "gradient", "gradient2", "vegas", "envoy_gradient", "queue_delay_aimd", "default")


def _style(name: str) -> dict[str, object]:
    if name == "default":
        return {"color": "black", "linewidth": 2.4, "zorder": 5}
    return {"linewidth": 1.1, "alpha": 0.85}


def load_plots(results: Sequence[Result], out: Path, scenario_name: str, seed: int) -> list[Path]:
    """Goodput (% of capacity) and p99 of accepted requests per 1-s window, against that window's
    mean offered load, over the ramp and the hold (10-60 s)."""
    scenario = SCENARIOS[scenario_name]
    runs = {r.task.policy: r for r in results if r.task.scenario == scenario_name and r.task.seed == seed}
    good_fig, good_ax = plt.subplots(figsize=(8, 5))
    p99_fig, p99_ax = plt.subplots(figsize=(8, 5))
    for name in LOAD_POLICIES:
        run = runs.get(name)
        if run is None:
            continue
        xs, goods, p99s = [], [], []
        for second in range(10, 60):
            _attempts, ok, _late, _shed, p99 = run.series[second]
            load = sum(scenario.load(second + k / 10) for k in range(10)) / 10
            xs.append(load)
            goods.append(100.0 * ok / CAPACITY_RPS)
            p99s.append(None if p99 is None else p99 * 1000)
        label = POLICIES[name].title
        good_ax.plot(xs, goods, label=label, **_style(name))
        p99_ax.plot(xs, [v if v is not None else float("nan") for v in p99s], label=label, **_style(name))
    good_ax.set(xlabel="offered load (x capacity)", ylabel="goodput (% of capacity)", ylim=(-2, 110))
    good_ax.set_title(f"{scenario_name} {scenario.title}: goodput against offered load (seed {seed})")
    p99_ax.set(xlabel="offered load (x capacity)", ylabel="p99 of accepted (ms)", yscale="log")
    p99_ax.set_title(f"{scenario_name} {scenario.title}: p99 against offered load (seed {seed})")
    paths = []
    for fig, ax, stem in ((good_fig, good_ax, "goodput_vs_load"), (p99_fig, p99_ax, "p99_vs_load")):
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7, loc="best")
        path = out / f"{stem}_{scenario_name}.png"
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)
        paths.append(path)
    return paths


def limit_plot(results: Sequence[Result], out: Path, scenario_name: str, seed: int) -> Path:
    scenario = SCENARIOS[scenario_name]
    runs = {r.task.policy: r for r in results if r.task.scenario == scenario_name and r.task.seed == seed}
    fig, ax = plt.subplots(figsize=(9, 5))
    for name in LIMIT_POLICIES:
        run = runs.get(name)
        if run is None or not run.limits:
            continue
        ts = [t for t, _ in run.limits]
        ls = [value for _, value in run.limits]
        ax.plot(ts, ls, label=POLICIES[name].title, **_style(name))
    ax.axhline(16, color="grey", linestyle="--", linewidth=1, label="static in-flight 16")
    ax.set(xlabel="time (s)", ylabel="concurrency limit L", yscale="log")
    ax.set_title(f"{scenario_name} {scenario.title}: limit over time (seed {seed})")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    path = out / f"limit_{scenario_name}.png"
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
