"""kind = "exec": real plugin scripts: good ones, a hanging one (and its child), garbage, a missing one."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path

import pytest

from healthgauge.probes import SpecError, run
from healthgauge.probes._exec import judge
from probes.conftest import make, values


def plugin(tmp_path: Path, name: str, body: str) -> str:
    path = tmp_path / name
    path.write_text(f"#!{sys.executable}\n" + body)
    path.chmod(0o755)
    return str(path)


async def test_ok_with_perfdata(tmp_path: Path) -> None:
    script = plugin(
        tmp_path, "check_db", "print(\"DB OK - 3 queued | 'queue depth'=3;10;20;0; time=0.004s;0.05;0.1\")\n"
    )
    result = await run(make("exec", {"command": [script]}), 5.0)
    got = values(result.samples)
    assert result.success, result.error
    assert got["probe_exec_exit_code"] == 0
    assert got['probe_perfdata{label="queue depth",uom=""}'] == 3
    assert got['probe_perfdata_warn{label="queue depth",uom=""}'] == 10
    assert got['probe_perfdata_crit{label="queue depth",uom=""}'] == 20
    assert got['probe_perfdata_min{label="queue depth",uom=""}'] == 0
    assert got['probe_perfdata{label="time",uom="s"}'] == 0.004
    assert got["probe_perfdata_errors"] == 0


@pytest.mark.parametrize(
    ("code", "success", "error"),
    [
        (1, True, ""),
        (2, False, "CRITICAL (exit 2): DISK CRITICAL - 2% free"),
        (3, False, "UNKNOWN (exit 3): DISK CRITICAL - 2% free"),
        (7, False, "UNKNOWN (exit 7): DISK CRITICAL - 2% free"),
    ],
)
async def test_exit_codes(tmp_path: Path, code: int, success: bool, error: str) -> None:
    script = plugin(tmp_path, "check_disk", f"import sys\nprint('DISK CRITICAL - 2% free')\nsys.exit({code})\n")
    result = await run(make("exec", {"command": [script, "--warn", "10%"]}), 5.0)
    assert (result.success, result.error) == (success, error)
    assert values(result.samples)["probe_exec_exit_code"] == code


async def test_a_hanging_plugin_and_its_child_are_killed_at_the_deadline(tmp_path: Path) -> None:
    pidfile = tmp_path / "child.pid"
    script = plugin(
        tmp_path,
        "check_hang",
        "import subprocess, sys, time\n"
        f"child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        f"open({str(pidfile)!r}, 'w').write(str(child.pid))\n"
        "print('about to hang', flush=True)\n"
        "time.sleep(60)\n",
    )
    started = time.monotonic()
    result = await run(make("exec", {"command": [script]}), 1.0)
    assert time.monotonic() - started < 3.0
    assert result.error == "no answer within the 1s timeout"
    child = int(pidfile.read_text())
    for _ in range(250):  # up to 5 s for the kernel to finish the kill
        if not _alive(child):
            break
        await asyncio.sleep(0.02)
    assert not _alive(child), "the plugin's child outlived the deadline"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie waiting for its (killed) parent's reaper is dead for our purpose
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


async def test_garbage_output_is_reported_and_the_exit_code_still_counts(tmp_path: Path) -> None:
    script = plugin(
        tmp_path,
        "check_garbage",
        "import sys\nsys.stdout.buffer.write(b'\\xff\\xfe OK | a=1 ===;; b=xyz c=2ms\\n' + b'\\x00' * 100000)\n",
    )
    result = await run(make("exec", {"command": [script]}), 5.0)
    got = values(result.samples)
    assert result.success
    assert got["probe_perfdata_errors"] == 2
    assert got['probe_perfdata{label="a",uom=""}'] == 1
    assert got['probe_perfdata{label="c",uom="ms"}'] == 2
    assert "performance data:" in result.error
    assert '"b=xyz"' in result.error


async def test_missing_program(tmp_path: Path) -> None:
    result = await run(make("exec", {"command": [str(tmp_path / "absent")]}), 2.0)
    assert result.error == f"cannot run {tmp_path / 'absent'}: No such file or directory"


def test_no_shell_and_signals_are_unknown() -> None:
    assert judge(-9, "").error == "UNKNOWN (killed by signal 9): no output"
    assert not judge(-9, "").success


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({}, r"targets\[0\].command: required"),
        ({"command": "check_disk -w 10"}, r"targets\[0\].command: a list of strings"),
        ({"command": []}, "a list of strings"),
    ],
)
def test_bad_settings(raw: dict[str, object], message: str) -> None:
    with pytest.raises(SpecError, match=message):
        make("exec", raw)
