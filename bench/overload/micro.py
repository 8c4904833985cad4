"""Micro-benchmark: admission + completion cost of the admission controller, in pure Python.

Spec §11.8 "Overhead": admission + completion ≤ 5 µs median. One operation here is what the
middleware does per request: ``acquire()``, ``permit.start()`` and ``permit.success()``, with the
process monotonic clock (``time.monotonic``). The figure is the median over batches of the mean
per operation in each batch; ratios against a bare loop of three ``time.monotonic()`` calls show
what the controller itself costs.

    .venv/bin/python bench/overload/micro.py
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable

from healthgauge.overload import (
    AdmissionController,
    FixedLimit,
    Gradient2Limit,
    Rejection,
    Waiter,
    WaitQueue,
    WindowedLimit,
)

BATCH = 5_000
BATCHES = 21
TARGET_US = 5.0


def _cycle(controller: AdmissionController) -> Callable[[], None]:
    acquire = controller.acquire

    def one() -> None:
        permit = acquire()
        if isinstance(permit, Rejection | Waiter):
            raise RuntimeError(f"micro-benchmark expected a permit, got {permit!r}")
        permit.start()
        permit.success()

    return one


def _reject_cycle(controller: AdmissionController) -> Callable[[], None]:
    acquire = controller.acquire
    held = acquire()  # fills the limit of 1: every later acquire is a rejection

    def one() -> None:
        acquire()

    one.held = held  # type: ignore[attr-defined]  (keep the permit alive for the run)
    return one


def _bare() -> Callable[[], None]:
    clock = time.monotonic

    def one() -> None:
        clock()
        clock()
        clock()

    return one


def measure() -> dict[str, float]:
    """Median µs per operation for each configuration (the first is healthgauge's default).

    The configurations take turns batch by batch, so a noisy neighbour slows them all alike and
    the ratios stay meaningful on a shared machine; each batch is timed in this process's CPU time,
    so time spent descheduled by other processes does not count.
    """
    cases: dict[str, Callable[[], None]] = {
        "default (queue-delay AIMD)": _cycle(AdmissionController()),
        "default + wait queue": _cycle(AdmissionController(queue=WaitQueue[Waiter]())),
        "static limit": _cycle(AdmissionController(FixedLimit(1_000_000))),
        "Gradient2, windowed": _cycle(AdmissionController(WindowedLimit(Gradient2Limit(max_limit=1_000_000)))),
        "rejection at the limit": _reject_cycle(AdmissionController(FixedLimit(1))),
        "bare loop: 3 x time.monotonic()": _bare(),
    }
    for op in cases.values():  # warm up
        for _ in range(2000):
            op()
    samples: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(BATCHES):
        for name, op in cases.items():
            started = time.process_time()
            for _ in range(BATCH):
                op()
            samples[name].append((time.process_time() - started) / BATCH * 1e6)
    return {name: statistics.median(values) for name, values in samples.items()}


def report(figures: dict[str, float]) -> tuple[str, bool]:
    bare = figures["bare loop: 3 x time.monotonic()"]
    lines = [f"{'configuration':<34}{'µs/op (median)':>16}{'x bare loop':>13}"]
    for name, value in figures.items():
        lines.append(f"{name:<34}{value:>16.2f}{value / bare:>13.1f}")
    default = figures["default (queue-delay AIMD)"]
    ok = default <= TARGET_US
    lines.append(
        f"{'PASS' if ok else 'FAIL'}  admission + completion, default: {default:.2f} µs (target ≤ {TARGET_US} µs)"
    )
    return "\n".join(lines), ok


def main() -> int:
    text, ok = report(measure())
    print(f"Python {sys.version.split()[0]}, {BATCHES} batches of {BATCH} operations")
    print(text)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
