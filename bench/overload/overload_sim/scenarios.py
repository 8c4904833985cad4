"""Scenarios S1-S5 of spec §11.4: offered load and I/O over 90 s of virtual time, and the phases
their figures are taken over."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

CAPACITY_RPS = 800.0  # C / S = 8 workers / 10 ms: the 100 % reference of every goodput figure
WORKERS = 8
MEAN_SERVICE = 0.010
CONTENTION_K = 0.02
CONTENTION_N0 = 16  # 2 C


@dataclass(frozen=True, slots=True, kw_only=True)
class Phase:
    name: str
    start: float
    end: float
    ideal_goodput: float
    """Goodput a perfect policy reaches, in % of capacity (min(load, 1) × 100)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Scenario:
    name: str
    title: str
    duration: float
    load: Callable[[float], float]
    """Offered load at time t, in multiples of capacity."""
    max_load: float
    io: Callable[[float], float]
    """Mean of the exponential I/O stage for an attempt created at t (0: none)."""
    deadline: float = 1.0
    contention: bool = False
    retries: int = 0
    phases: tuple[Phase, ...] = ()
    overload_end: float | None = None
    headline: tuple[str, ...] = ()
    """Phases whose goodput / p50 / p99 feed summary.json (the worst of them)."""
    shed_phase: str = ""
    """The phase whose shed % and late % summary.json reports."""
    low_load: tuple[str, ...] = ()
    """Phases whose shed % is "shedding at low load"."""
    recovery_shed_max: float | None = None
    """S3 (HG): recovered means shedding at most this % again, instead of the p99/ok test (S3's
    unloaded p99, ~107 ms with a 20-ms exponential I/O stage, sits at the 100-ms bound itself)."""
    notes: tuple[str, ...] = field(default=())


def _ramp(t: float) -> float:
    if t < 10:
        return 0.5
    if t < 40:
        return 0.5 + 2.5 * (t - 10) / 30
    if t < 60:
        return 3.0
    return 0.5


def _no_io(t: float) -> float:
    return 0.0


def _s3_io(t: float) -> float:
    return 0.2 if 30 <= t < 60 else 0.02


def _s4_load(t: float) -> float:
    return 1.5 if 20 <= t < 50 else 0.6


RAMP_PHASES = (
    Phase(name="0.5x", start=0, end=10, ideal_goodput=50),
    Phase(name="1-2x", start=16, end=34, ideal_goodput=100),
    Phase(name="3x", start=40, end=60, ideal_goodput=100),
    Phase(name="after", start=60, end=90, ideal_goodput=50),
)

SCENARIOS: dict[str, Scenario] = {
    "S1": Scenario(
        name="S1",
        title="ramp to 3x",
        duration=90,
        load=_ramp,
        max_load=3.0,
        io=_no_io,
        phases=RAMP_PHASES,
        overload_end=60,
        headline=("1-2x", "3x"),
        shed_phase="3x",
        low_load=("0.5x",),
    ),
    "S2": Scenario(
        name="S2",
        title="ramp with contention",
        duration=90,
        load=_ramp,
        max_load=3.0,
        io=_no_io,
        contention=True,
        phases=RAMP_PHASES,
        overload_end=60,
        headline=("3x",),
        shed_phase="3x",
        low_load=("0.5x",),
    ),
    "S3": Scenario(
        name="S3",
        title="slow dependency",
        duration=90,
        load=lambda t: 0.7,
        max_load=0.7,
        io=_s3_io,
        phases=(
            Phase(name="io20", start=5, end=30, ideal_goodput=70),
            Phase(name="io200", start=30, end=60, ideal_goodput=70),
            Phase(name="io20-after", start=60, end=90, ideal_goodput=70),
            Phase(name="all", start=0, end=90, ideal_goodput=70),
        ),
        overload_end=60,
        headline=("all",),
        shed_phase="all",
        low_load=("io20", "io20-after"),
        recovery_shed_max=0.5,
    ),
    "S4": Scenario(
        name="S4",
        title="retry storm",
        duration=90,
        load=_s4_load,
        max_load=1.5,
        io=_no_io,
        deadline=0.5,
        contention=True,
        retries=2,
        phases=(
            Phase(name="0.6x", start=0, end=20, ideal_goodput=60),
            Phase(name="1.5x", start=25, end=50, ideal_goodput=100),
            Phase(name="0.6x-after", start=50, end=90, ideal_goodput=60),
        ),
        overload_end=50,
        headline=("1.5x",),
        shed_phase="1.5x",
        low_load=("0.6x",),
    ),
    "S5": Scenario(
        name="S5",
        title="low traffic (8 rps)",
        duration=90,
        load=lambda t: 0.01,
        max_load=0.01,
        io=lambda t: 0.005,
        phases=(Phase(name="all", start=0, end=90, ideal_goodput=1),),
        overload_end=None,
        headline=("all",),
        shed_phase="all",
        low_load=("all",),
    ),
}


def hold_scenario(duration: float = 20.0) -> Scenario:
    """S1's 3x hold alone, for the sweep of static limits that anchors the trajectory target."""
    return Scenario(
        name="S1-hold",
        title="3x hold (static sweep)",
        duration=duration,
        load=lambda t: 3.0,
        max_load=3.0,
        io=_no_io,
        phases=(Phase(name="3x", start=5, end=duration, ideal_goodput=100),),
        headline=("3x",),
        shed_phase="3x",
    )


def scaled(scenario: Scenario, factor: float) -> Scenario:
    """The same scenario with its time axis compressed by ``factor`` (for a quick test run).

    Loads and I/O follow the compressed clock, phases shrink with it; deadlines and the server do
    not change, so only the phases' lengths (and the statistics' noise) differ.
    """

    def load(t: float) -> float:
        return scenario.load(t / factor)

    def io(t: float) -> float:
        return scenario.io(t / factor)

    return Scenario(
        name=scenario.name,
        title=f"{scenario.title} (time x{factor})",
        duration=scenario.duration * factor,
        load=load,
        max_load=scenario.max_load,
        io=io,
        deadline=scenario.deadline,
        contention=scenario.contention,
        retries=scenario.retries,
        phases=tuple(
            Phase(name=p.name, start=p.start * factor, end=p.end * factor, ideal_goodput=p.ideal_goodput)
            for p in scenario.phases
        ),
        overload_end=None if scenario.overload_end is None else scenario.overload_end * factor,
        headline=scenario.headline,
        shed_phase=scenario.shed_phase,
        low_load=scenario.low_load,
        recovery_shed_max=scenario.recovery_shed_max,
    )
