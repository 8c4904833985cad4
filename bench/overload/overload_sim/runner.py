"""One task = one (scenario, policy, seed) run, executed in a worker process; its figures come back
to the parent, its trajectory CSV is written by the worker."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

from overload_sim.metrics import Arrays, PhaseFigures, per_second, phase_figures, recovery_time
from overload_sim.model import TRAJECTORY_COLUMNS, Simulation
from overload_sim.policies import POLICIES, Policy, static_sweep_policy
from overload_sim.scenarios import SCENARIOS, Scenario, hold_scenario


@dataclass(frozen=True, slots=True)
class Task:
    scenario: str
    policy: str
    seed: int
    sweep_limit: int | None = None
    """Set for the static-limit sweep on S1's 3x hold."""

    @property
    def key(self) -> str:
        return f"{self.scenario}/{self.policy}/seed{self.seed}"


@dataclass(frozen=True, slots=True)
class Result:
    task: Task
    phases: tuple[PhaseFigures, ...]
    recovery_s: float | None
    series: tuple[tuple[int, int, int, int, float | None], ...]
    limits: tuple[tuple[float, float], ...]
    """(t, L) every 100 ms."""
    attempts: int
    events: int
    cpu_s: float


def resolve(task: Task) -> tuple[Scenario, Policy]:
    if task.sweep_limit is not None:
        return hold_scenario(), static_sweep_policy(task.sweep_limit)
    return SCENARIOS[task.scenario], POLICIES[task.policy]


def fmt(value: float) -> str:
    """Fixed formatting, so the same seed writes byte-identical CSV files."""
    if isinstance(value, int):
        return str(value)
    if math.isinf(value):
        return "inf"
    return f"{value:.6f}"


def execute(task: Task, out: Path | None) -> Result:
    started = time.process_time()
    scenario, policy = resolve(task)
    data = Simulation(scenario, policy, task.seed, trajectory=task.sweep_limit is None).run()
    arrays = Arrays(data)
    phases = tuple(phase_figures(arrays, p.name, p.start, p.end) for p in scenario.phases)
    series = per_second(arrays, scenario.duration)
    recovery = recovery_time(scenario, series)
    if out is not None and data.trajectory:
        path = out / "trajectories" / f"{task.scenario}_{task.policy}_seed{task.seed}.csv"
        lines = [",".join(TRAJECTORY_COLUMNS)]
        lines += [",".join(fmt(v) for v in row) for row in data.trajectory]
        path.write_text("\n".join(lines) + "\n")
    return Result(
        task=task,
        phases=phases,
        recovery_s=recovery,
        series=tuple(series),
        limits=tuple((row[0], row[1]) for row in data.trajectory),
        attempts=len(data.arrivals),
        events=data.events,
        cpu_s=time.process_time() - started,
    )
