"""The loop probe's reading between samples on a real asyncio loop (issue #11, eighth round):
once the loop has caught up with a late sample, a decision reads how late the loop is now, not
the iteration that sample described."""

from __future__ import annotations

import asyncio
import time

from healthgauge.overload import LoopLagProbe

BLOCK = 0.06  # one long iteration, as a shed loop's batch of admitted handlers makes


def burn(seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass


async def late_sample(probe: LoopLagProbe) -> None:
    """Block the loop for one long iteration and return once the probe has sampled it."""
    seen = probe.samples
    burn(BLOCK)
    for _ in range(100):  # bounded: the sample comes in the next iteration
        if probe.samples > seen:
            return
        await asyncio.sleep(0)
    raise AssertionError("no sample after a 60-ms iteration")


async def test_after_the_loop_caught_up_with_a_late_sample_it_reads_the_time_since() -> None:
    """A 60-ms iteration, sampled late: what was queued behind the sample runs, then a request
    arriving reads the few milliseconds since the sample, not 50-60 ms, although the probe's next
    sample is not due for an interval (the guard refused everything meanwhile)."""
    probe = LoopLagProbe(interval=0.01)
    probe.start()
    try:
        await asyncio.sleep(0.03)
        await late_sample(probe)
        assert probe.latest > 0.04
        for _ in range(4):  # a few iterations: the loop has run what waited behind the sample
            await asyncio.sleep(0)
        now = time.monotonic()
        assert probe.current(now) < 0.01
        assert probe.latest > 0.04  # the sample itself is unchanged
    finally:
        probe.stop()


async def test_before_the_loop_caught_up_it_reads_the_late_sample() -> None:
    """A request that arrived during the long iteration on an idle connection is read in the next
    iteration and started in the one after: it waited through that iteration, so a reading there
    (a callback two iterations on, as its handler's first step) is still the sample."""
    loop = asyncio.get_running_loop()
    probe = LoopLagProbe(interval=0.01)
    readings: list[float] = []

    def read() -> None:
        readings.append(probe.current(time.monotonic()))

    def on_sample(lag: float) -> None:
        if lag > 0.04:
            loop.call_soon(read)  # the next iteration: a handler parsed in the late one
            loop.call_soon(lambda: loop.call_soon(read))  # the one after: parsed in the next

    probe.on_sample = on_sample
    probe.start()
    try:
        await asyncio.sleep(0.03)
        await late_sample(probe)
        await asyncio.sleep(0.02)
    finally:
        probe.stop()
    assert len(readings) == 2, readings
    assert all(r > 0.04 for r in readings), readings


async def test_an_overdue_probe_still_reads_how_overdue_it_is() -> None:
    """A loop blocked past its sample's time: the reading is how long the probe has waited."""
    probe = LoopLagProbe(interval=0.01)
    probe.start()
    try:
        await asyncio.sleep(0.03)
        start = time.monotonic()
        burn(BLOCK)
        assert probe.current(time.monotonic()) >= time.monotonic() - start - probe.interval - 0.005
    finally:
        probe.stop()
