"""What every probe kind shares: the result, the samples and the one run with its deadline.

A probe does the real work once (a query, a request, a connect, a health call, a plugin) and
returns a :class:`Result`: whether it succeeded, its kind's own samples and, when it failed, why.
:func:`run` wraps every kind alike: it enforces the deadline, maps a probe's own errors and the
deadline to a failed result, and adds the two samples every kind has, named as Prometheus's
blackbox_exporter names them: ``probe_success`` (1 or 0) and ``probe_duration_seconds``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Protocol

from healthgauge.exposition import Sample

_EMPTY: Mapping[str, str] = {}


class ProbeError(Exception):
    """The probe ran and the thing probed failed it; ``str()`` is the reason a person reads."""


@dataclass(frozen=True, slots=True)
class Result:
    """One probe's outcome: success, its kind's samples, and the reason when it failed."""

    success: bool
    samples: tuple[Sample, ...] = ()
    error: str = ""
    duration: float = 0.0


class Probe(Protocol):
    """One target's probe: prepared once from its settings, run every interval."""

    @property
    def kind(self) -> str: ...

    async def probe(self, budget: float) -> Result:
        """Do the work once within ``budget`` seconds (the deadline is :func:`run`'s too)."""

    async def close(self) -> None:
        """Release pools and connections."""


def sample(name: str, value: float, labels: Mapping[str, str] | None = None) -> Sample:
    return Sample(name, labels or _EMPTY, float(value))


def failure(error: str, *samples: Sample) -> Result:
    return Result(success=False, samples=samples, error=error)


async def run(probe: Probe, budget: float) -> Result:
    """Run ``probe`` within ``budget`` seconds (the target's timeout); never raises for the probed thing's fault.

    The result's samples start with ``probe_success`` and ``probe_duration_seconds``: a failed
    probe records its duration too (a query cut at its timeout took the timeout), so
    ``avg_over_time(probe_duration_seconds[30s])`` sees slowness and failure alike.
    """
    loop = asyncio.get_running_loop()
    started = loop.time()
    try:
        async with asyncio.timeout(budget):
            result = await probe.probe(budget)
    except TimeoutError:
        result = failure(f"no answer within the {budget:g}s timeout")
    except ProbeError as exc:
        result = failure(str(exc) or type(exc).__name__)
    duration = loop.time() - started
    head = (
        sample("probe_success", 1.0 if result.success else 0.0),
        sample("probe_duration_seconds", duration),
    )
    return Result(success=result.success, samples=head + result.samples, error=result.error, duration=duration)


def metric_name(text: str) -> str:
    """``text`` as a Prometheus metric name: other characters become ``_``, a leading digit gets
    one in front (``count(*)`` -> ``count___``, ``5xx`` -> ``_5xx``)."""
    out = "".join(ch if ch.isascii() and (ch.isalnum() or ch in "_:") else "_" for ch in text)
    return "_" + out if not out or out[0].isdigit() else out


def as_number(value: object) -> float | None:
    """A column or field value as a sample value: numbers, booleans (1/0) and durations (seconds,
    e.g. a replication lag); ``None`` for anything else (text, NULL)."""
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int | float | Decimal):
        return float(value)
    if isinstance(value, timedelta):
        return value.total_seconds()
    return None
