"""Probes that do the real work: a SQL query, an HTTP request, a TCP connect, a gRPC health call,
a Nagios plugin. Each result becomes samples in the target's history, so the same PromQL rules,
hysteresis and consumers judge them as they judge a scraped /metrics page.

    probe = build("sql", table)                   # at configuration load: every key checked
    result = await run(probe, timeout)            # every interval: never raises for the target
    result.samples                                # probe_success, probe_duration_seconds, ...

Every kind records ``probe_success`` and ``probe_duration_seconds`` (blackbox_exporter's names),
so ``avg_over_time(probe_duration_seconds[30s]) < 0.05`` judges any of them by its time. Each
kind's module says its settings and samples; the README has a section per kind.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType

from healthgauge.probes._base import Probe, ProbeError, Result, run
from healthgauge.probes._perfdata import Perfdata, PerfdataError, PluginOutput, Range, parse_output, parse_perfdata
from healthgauge.probes._spec import SpecError, Table

__all__ = [
    "KINDS",
    "Perfdata",
    "PerfdataError",
    "PluginOutput",
    "Probe",
    "ProbeError",
    "Range",
    "Result",
    "SpecError",
    "Table",
    "build",
    "keys",
    "parse_output",
    "parse_perfdata",
    "run",
]

#: Probe kinds and the module that implements each (imported when a target uses the kind).
KINDS = {"sql": "_sql", "http": "_http", "tcp": "_tcp", "grpc": "_grpc", "exec": "_exec"}


def _module(kind: str) -> ModuleType:
    import importlib

    if kind not in KINDS:
        raise SpecError(f"unknown probe kind {kind!r} (known: metrics, {', '.join(KINDS)})")
    return importlib.import_module(f"healthgauge.probes.{KINDS[kind]}")


def keys(kind: str) -> tuple[str, ...]:
    """The settings a target of ``kind`` may have beside the common ones."""
    found: tuple[str, ...] = _module(kind).KEYS
    return found


def build(kind: str, table: Table, timeout: float) -> Probe:
    """A ready-to-run probe from a target's table; raises :class:`SpecError` naming the key."""
    make: Callable[[Table, float], Probe] = _module(kind).make
    return make(table, timeout)
