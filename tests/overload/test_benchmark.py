"""The overload benchmark's simulation, run briefly: the default policy's S1 figures stay within
spec §11.8's targets, the harness can tell a collapse, and a seed reproduces its CSV byte for byte."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "overload"
sys.path.insert(0, str(BENCH))

from overload_sim.report import run_figures  # noqa: E402
from overload_sim.runner import Result, Task, execute  # noqa: E402
from overload_sim.scenarios import SCENARIOS  # noqa: E402


def phase(result: Result, name: str) -> tuple[float, float, float | None]:
    figures = next(p for p in result.phases if p.phase == name)
    return figures.goodput_pct, figures.shed_pct, figures.p99_ms


@pytest.mark.parametrize("seed", [1, 2])
def test_default_policy_meets_the_s1_targets(seed: int) -> None:
    result = execute(Task("S1", "default", seed), None)
    for name in ("1-2x", "3x"):
        goodput, _shed, p99 = phase(result, name)
        assert goodput >= 95.0, f"S1 {name}: goodput {goodput:.1f}% < 95%"
        assert p99 is not None
        assert p99 <= 100.0, f"S1 {name}: p99 {p99} ms > 100 ms"
    _goodput, low_shed, _p99 = phase(result, "0.5x")
    assert low_shed <= 0.5, f"S1 0.5x: shed {low_shed:.2f}% > 0.5%"
    assert result.recovery_s is not None
    assert result.recovery_s <= 1.0
    figures = run_figures(SCENARIOS["S1"], result)
    assert figures["goodput_pct"] is not None
    assert figures["goodput_pct"] >= 95.0
    assert figures["low_load_shed_pct"] == low_shed


def test_the_harness_sees_an_unprotected_server_collapse() -> None:
    result = execute(Task("S1", "no_protection", 1), None)
    goodput, shed, p99 = phase(result, "3x")
    assert goodput < 5.0
    assert shed == 0.0
    assert p99 is not None
    assert p99 > 10_000
    assert result.recovery_s == float("inf")


def test_the_same_seed_writes_byte_identical_csv(tmp_path: Path) -> None:
    outputs = []
    for run in ("a", "b", "c"):
        out = tmp_path / run
        (out / "trajectories").mkdir(parents=True)
        seed = 2 if run == "c" else 1
        execute(Task("S5", "default", seed), out)
        execute(Task("S3", "default_queued", seed), out)
        outputs.append({p.name: p.read_bytes() for p in sorted((out / "trajectories").iterdir())})
    assert outputs[0] == outputs[1]
    assert outputs[0].keys() != outputs[2].keys() or outputs[0] != outputs[2]
    assert all(len(body) > 1000 for body in outputs[0].values())
