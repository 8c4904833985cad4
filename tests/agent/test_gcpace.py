"""GC pacing: small collections on a schedule (the agent command's, not an embedding program's)."""

from __future__ import annotations

import asyncio
import contextlib
import gc

from healthgauge.agent._gcpace import GCPaceStatistics, pace_gc


async def test_each_generation_on_its_own_schedule() -> None:
    seen: list[int] = []

    def callback(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            seen.append(info["generation"])

    stats = GCPaceStatistics([0, 0, 0], 0.0)
    gc.callbacks.append(callback)
    task = asyncio.create_task(pace_gc(young=0.01, middle=0.1, full=0.25, stats=stats))
    loop = asyncio.get_running_loop()
    started = loop.time()
    try:
        await asyncio.sleep(0.6)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        gc.callbacks.remove(callback)
    elapsed = loop.time() - started  # a loaded machine may oversleep: the bounds follow the real time
    young, middle, full = stats.collections
    assert 5 <= young <= elapsed / 0.01 + 1  # every 10 ms (timers run late, never early)
    assert 2 <= middle <= elapsed / 0.1 + 1  # every 100 ms, except when a full one is due
    assert 1 <= full <= elapsed / 0.25 + 1  # every 250 ms
    assert young > middle > full - 1
    assert stats.seconds > 0
    assert seen.count(2) >= full  # the collector really ran them (automatic ones may add more)
