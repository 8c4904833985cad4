"""``kind = "exec"``: run a Nagios-style plugin; its exit code and performance data are samples.

Settings: ``command`` (the argv list; no shell, so nothing in it is interpreted), ``env`` (extra
environment variables). The plugin runs in a session and process group of its own, with its
standard input closed; at the deadline (the target's ``timeout``) the whole group is killed with
SIGKILL, so a plugin's children never outlive it. At most :data:`~._perfdata.MAX_OUTPUT`
characters of its output are read (Nagios 3 keeps 8 KB); standard error is read with it.

Exit codes as Nagios reads them: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (anything else, a signal
included, is UNKNOWN too). The probe succeeds at 0 and 1 (a warning still serves: the default rule
for exec targets warns on it). Samples: ``probe_exec_exit_code``;
for each performance data item ``probe_perfdata{label,uom}`` (its value as printed, in its unit),
``probe_perfdata_warn`` / ``_crit`` (the end of the threshold range), ``_min`` / ``_max``; and
``probe_perfdata_errors``, the count of items that could not be read (each one named in the reason).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal

from healthgauge.exposition import Sample
from healthgauge.probes._base import ProbeError, Result, sample
from healthgauge.probes._perfdata import MAX_OUTPUT, PluginOutput, parse_output
from healthgauge.probes._spec import SpecError, Table

KEYS = ("command", "env")
NAGIOS = {0: "OK", 1: "WARNING", 2: "CRITICAL", 3: "UNKNOWN"}


def make(table: Table, timeout: float) -> ExecProbe:
    del timeout
    argv = table.strings("command", required=True)
    env = table.headers("env")
    for name, _ in env:
        if not name or "=" in name or "\0" in name:
            raise SpecError(f"{table.where('env')}.{name}: not an environment variable name")
    return ExecProbe(argv, dict(env))


class ExecProbe:
    kind = "exec"

    def __init__(self, argv: tuple[str, ...], env: dict[str, str]) -> None:
        self.argv = argv
        self.env = {**os.environ, **env} if env else None

    def describe(self) -> str:
        return " ".join(self.argv)

    async def probe(self, budget: float) -> Result:
        del budget  # run() holds the deadline; the finally below kills the group when it passes
        try:
            process = await asyncio.create_subprocess_exec(
                *self.argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,
                env=self.env,
            )
        except OSError as exc:
            raise ProbeError(f"cannot run {self.argv[0]}: {exc.strerror or exc}") from None
        try:
            assert process.stdout is not None
            data = await _read_capped(process.stdout, MAX_OUTPUT * 4)
            code = await process.wait()
        finally:
            _kill_group(process.pid)
            if process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()
        return judge(code, data.decode("utf-8", "replace"))

    async def close(self) -> None:
        return None


def judge(code: int, output: str) -> Result:
    """A plugin's exit code and output as a result (pure)."""
    parsed = parse_output(output)
    samples = [sample("probe_exec_exit_code", code), *_perf_samples(parsed)]
    status = NAGIOS.get(code, "UNKNOWN")
    text = parsed.text or "no output"
    notes = "; ".join(parsed.errors)
    if code in (0, 1):
        error = "" if not notes else f"{status}: {text} (performance data: {notes})"
        return Result(True, tuple(samples), error)
    how = f"killed by signal {-code}" if code < 0 else f"exit {code}"
    error = f"{status} ({how}): {text}" + (f" (performance data: {notes})" if notes else "")
    return Result(False, tuple(samples), error)


def _perf_samples(parsed: PluginOutput) -> list[Sample]:
    out = [sample("probe_perfdata_errors", len(parsed.errors))]
    for item in parsed.perfdata:
        labels = {"label": item.label, "uom": item.uom}
        out.append(sample("probe_perfdata", item.value, labels))
        for suffix, threshold in (("warn", item.warn), ("crit", item.crit)):
            if threshold is not None:
                out.append(sample(f"probe_perfdata_{suffix}", threshold.end, labels))
        for suffix, bound in (("min", item.min), ("max", item.max)):
            if bound is not None:
                out.append(sample(f"probe_perfdata_{suffix}", bound, labels))
    return out


async def _read_capped(stream: asyncio.StreamReader, cap: int) -> bytes:
    """Read to EOF, keeping the first ``cap`` bytes (the rest is drained so the plugin never blocks)."""
    kept = bytearray()
    while chunk := await stream.read(65536):
        if len(kept) < cap:
            kept += chunk[: cap - len(kept)]
    return bytes(kept)


def _kill_group(pid: int) -> None:
    """SIGKILL every process left in the plugin's group (its own, from start_new_session)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
