"""The loop of a probe target: probe, remember the samples, evaluate, publish, every interval.

It is the scrape loop (``_scrape.TargetLoop``: the schedule, the phase, the error containment,
the statistics) with the probe in place of fetch and parse. A probe that fails is *not* a failed
scrape: its samples (``probe_success 0``, its duration, what it saw) go into the history like any
others and the rules judge them, so ``avg_over_time(probe_duration_seconds[30s])`` sees timeouts
too. When the rules leave the target not ready, the probe's own error leads the reason.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable

from healthgauge.agent._config import TargetConfig, parse_duration
from healthgauge.agent._scrape import TargetLoop
from healthgauge.agent.judge._engine import Engine
from healthgauge.agent.judge._judgement import evaluate
from healthgauge.agent.state._hub import StateHub
from healthgauge.health._state import Verdict
from healthgauge.probes import Probe, run


class ProbeLoop(TargetLoop):
    """One probe target's loop; :meth:`aclose` releases its pools and channels."""

    def __init__(
        self,
        target: TargetConfig,
        *,
        engine: Engine,
        hub: StateHub,
        wall: Callable[[], float] = time.time,
        phase: float | None = None,
    ) -> None:
        super().__init__(target, engine=engine, hub=hub, wall=wall, phase=phase)
        assert target.probe is not None
        self.probe: Probe = target.probe.build(target.timeout, parse_duration)

    async def once(self) -> None:
        """One probe and its verdict, published to the hub. Never raises for a target's fault."""
        at = self.wall()
        result = await run(self.probe, self.target.timeout)
        self.history.add_scrape(list(result.samples), at)
        self.stats.record(result.duration, ok=result.success, size=0)
        verdict = evaluate(
            self.target, self.engine, self.history, at, duration=result.duration, previous=self.conditions
        )
        self.conditions = verdict.conditions
        if result.error:
            verdict = dataclasses.replace(verdict, reason=_reason(self.probe.kind, result.error, verdict))
        self.hub.observe(self.target.name, verdict)

    async def aclose(self) -> None:
        """Release the probe's pools and channels."""
        await self.probe.close()


def _reason(kind: str, error: str, verdict: Verdict) -> str:
    """The probe's error first when the target is not ready; after the reason otherwise."""
    if not verdict.ready or not verdict.live:
        return f"{kind} probe failed: {error}; {verdict.reason}" if verdict.reason else f"{kind} probe failed: {error}"
    return f"{verdict.reason} ({kind} probe: {error})" if verdict.reason else f"{kind} probe: {error}"
