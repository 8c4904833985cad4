"""The simulation beside the real servers, for the same open-loop steps (issue #11 item 3).

    python bench/overload/sim_vs_real.py --real bench/out/real-legacy/summary.json

Runs the simulation (``overload_sim``: 8 workers, 10 ms lognormal CPU, 1 s deadline, no event
loop, free rejections) through the real benchmark's open-loop steps (0.5×, 1×, 2×, 4×, 0.5× of
capacity) for the policies it can model: no protection and healthgauge 0.x's default
(``QueueDelayLimit``). Prints its goodput (% of capacity) per step next to the real benchmark's
``open-cpu`` figures for ``none`` and ``legacy`` (run ``real.py --scenarios open-cpu --policies
none legacy default``), and whether they agree within 10 points, the bar for the simulation to
hold targets. Today's default (``LoopDelayLimit``) is driven by the event loop's probe, which the
simulation does not have: it cannot be simulated at all.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from overload_sim.metrics import Arrays, phase_figures
from overload_sim.model import Simulation
from overload_sim.policies import POLICIES
from overload_sim.scenarios import Phase, Scenario

STEPS = (0.5, 1.0, 2.0, 4.0, 0.5)
STEP_S = 10.0
LABELS = ("0.5x", "1x", "2x", "4x", "0.5x after")
AGREE_POINTS = 10.0
PAIRS = (("no_protection", "none"), ("default", "legacy"))


def steps_scenario() -> Scenario:
    def load(t: float) -> float:
        return STEPS[min(len(STEPS) - 1, int(t // STEP_S))]

    phases = tuple(
        Phase(name=label, start=i * STEP_S + 2, end=(i + 1) * STEP_S, ideal_goodput=min(x, 1.0) * 100)
        for i, (label, x) in enumerate(zip(LABELS, STEPS, strict=True))
    )
    return Scenario(
        name="steps",
        title="the real benchmark's open-loop steps",
        duration=STEP_S * len(STEPS),
        load=load,
        max_load=max(STEPS),
        io=lambda t: 0.0,
        phases=phases,
        headline=LABELS,
        shed_phase="4x",
    )


def simulate(policy: str, seed: int = 1) -> dict[str, float]:
    scenario = steps_scenario()
    data = Simulation(scenario, POLICIES[policy], seed, trajectory=False).run()
    arrays = Arrays(data)
    return {p.name: phase_figures(arrays, p.name, p.start, p.end).goodput_pct for p in scenario.phases}


def real_figures(path: Path) -> dict[tuple[str, str, str], float]:
    summary: dict[str, Any] = json.loads(path.read_text())
    out: dict[tuple[str, str, str], float] = {}
    for row in summary["rows"]:
        if row["scenario"] == "open-cpu" and row["of_capacity_pct"] is not None:
            out[(row["stack"], row["policy"], row["phase"])] = float(row["of_capacity_pct"])
    return out


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--real", type=Path, help="a real.py summary.json with open-cpu rows for none and legacy")
    args = p.parse_args(argv)
    real = real_figures(args.real) if args.real else {}
    stacks = sorted({k[0] for k in real})
    head = ["policy", "step", "sim goodput %"] + [f"{s} real %" for s in stacks] + ["agree (±10)"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    agree_all = True
    for sim_policy, real_policy in PAIRS:
        sim = simulate(sim_policy)
        for label in LABELS:
            cells = [f"{real_policy} / {sim_policy}", label, f"{sim[label]:.0f}"]
            ok = True
            for stack in stacks:
                value = real.get((stack, real_policy, label))
                cells.append("-" if value is None else f"{value:.0f}")
                if value is not None and abs(value - sim[label]) > AGREE_POINTS:
                    ok = False
            agree_all = agree_all and ok
            cells.append("yes" if ok else "no")
            print("| " + " | ".join(cells) + " |")
    verdict = "agrees" if agree_all and real else "does not agree"
    print(f"\nThe simulation {verdict} with the real servers within {AGREE_POINTS:.0f} points at every step.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
