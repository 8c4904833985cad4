"""`healthgauge check` against Python's own start and against curl | grep, side by side.

Runs, alternating and in a rotating order so that machine noise falls on all alike:

- the installed `healthgauge` command, by its full path in this venv, with a full-featured condition
  (a label matcher, arithmetic, a comparison and `and`) that the quick path answers;
- the same command with a condition only the full path answers (an aggregation, `sum(...)`);
- `python -I -S -c pass` of the same interpreter: the floor;
- `sh -c 'curl -s URL | grep -q "app_state 1"'`: what users run today;
- with `--baseline PATH`, another installed `healthgauge` (e.g. main's) with both conditions.

on a small page and on a 10k-series page, served by a separate process so the endpoint does not
share this process's interpreter lock. Prints the wall and CPU medians and the ratios to the floor
and to curl | grep; the targets (issue #14) are quick / python <= 1.1 (small page) and <= 1.3 (10k
page), quick / curl <= 1.1 (small page), and the full path no slower than before. Where the time
goes, stage by stage, in instructions and page faults: `bench/check_profile.py`.

    .venv/bin/python bench/check.py [--rounds N] [--baseline /path/to/other/bin/healthgauge] [--callgrind]

With ``--callgrind``, each command also runs once under valgrind's callgrind (after the timed
rounds): its instructions, beside the wall and CPU times. CPU is the child's own user + system
time (``os.wait4``): the wall time beyond it is waiting, mostly for the endpoint.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

CONDITION = 'app_state{job!="batch"} == 1 and time() - app_last_iteration_ts < 600'
# Outside the quick path's subset (an aggregation): the full path answers it.
FULL_CONDITION = "sum(app_state) == 1 and time() - app_last_iteration_ts < 600"
SERVER = """
import sys
from healthgauge.testing import MetricsServer
server = MetricsServer(open(sys.argv[1], "rb").read())
server.start()
print(server.url, flush=True)
sys.stdin.read()
server.stop()
"""


def page(series: int) -> bytes:
    """A realistic page of `series` samples; the two the condition reads come last."""
    from healthgauge.testing import realistic_page

    tail = "# TYPE app_state gauge\napp_state 1\n# TYPE app_last_iteration_ts gauge\n"
    tail += f"app_last_iteration_ts {time.time():.3f}\n"
    return (realistic_page(series - 2) + tail).encode()


def start_endpoint(body: bytes, workdir: Path) -> tuple[subprocess.Popen[str], str]:
    path = workdir / f"page-{len(body)}.txt"
    path.write_bytes(body)
    proc = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    url = proc.stdout.readline().strip()
    if not url.startswith("http://"):
        proc.kill()
        raise SystemExit(f"the endpoint did not start: {url!r}")
    return proc, url


def run_once(argv: list[str], devnull: int) -> tuple[float, float, int]:
    """Wall time of one run (spawn to exit), the CPU time it used (user + system, its own rusage
    from wait4), and its exit code."""
    start = time.perf_counter()
    pid = os.posix_spawn(argv[0], argv, os.environ, file_actions=[(os.POSIX_SPAWN_DUP2, devnull, 1)])
    _, status, usage = os.wait4(pid, 0)
    wall = time.perf_counter() - start
    return wall, usage.ru_utime + usage.ru_stime, os.waitstatus_to_exitcode(status)


def instructions(argv: list[str]) -> int | None:
    """Instructions of one run under valgrind's callgrind (repeatable to a few thousand), or None."""
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        return None
    # A script runs under the interpreter its first line names, as the kernel would run it.
    first = Path(argv[0]).read_bytes()[:200].split(b"\n")[0] if argv[0].endswith("healthgauge") else b""
    if first.startswith(b"#!") and b"python" in first:
        argv = [*first[2:].decode().split(), *argv]
    out = subprocess.run(
        [valgrind, "--tool=callgrind", "--callgrind-out-file=/dev/null", *argv],
        capture_output=True,
        text=True,
        timeout=300,
    )
    for line in out.stderr.splitlines():
        if "Collected :" in line:
            return int(line.rsplit(":", 1)[1])
    return None


def measure(commands: dict[str, list[str]], rounds: int, warmup: int) -> dict[str, tuple[list[float], list[float]]]:
    """Each command once per round, in a rotating order; (wall times, CPU times) per command."""
    times: dict[str, tuple[list[float], list[float]]] = {name: ([], []) for name in commands}
    names = list(commands)
    with open(os.devnull, "wb") as sink:
        for n in range(warmup + rounds):
            for name in names[n % len(names) :] + names[: n % len(names)]:
                wall, cpu, code = run_once(commands[name], sink.fileno())
                if code != 0:
                    raise SystemExit(f"{name} exited {code}: {' '.join(commands[name])}")
                if n >= warmup:
                    times[name][0].append(wall)
                    times[name][1].append(cpu)
    return times


def report(
    title: str, times: dict[str, tuple[list[float], list[float]]], counts: dict[str, int | None] | None = None
) -> None:
    wall = {name: statistics.median(w) * 1000 for name, (w, _) in times.items()}
    cpu = {name: statistics.median(c) * 1000 for name, (_, c) in times.items()}
    python, curl = "python -I -S -c pass", "curl | grep"
    counts = counts or {}
    base = counts.get(python)
    print(f"\n{title}  ({len(next(iter(times.values()))[0])} alternating rounds; load {load()})")
    print(
        f"  {'':<26} {'wall ms':>8} {'CPU ms':>7} {'/python wall':>13} {'CPU':>5} {'/curl wall':>11} {'CPU':>5}"
        f" {'instructions':>13} {'/python':>8}"
    )
    for name in times:
        ir = counts.get(name)
        ir_text = f" {ir / 1e6:12.1f}M {ir / base:8.3f}" if ir and base else ""
        print(
            f"  {name:<26} {wall[name]:8.2f} {cpu[name]:7.2f} {wall[name] / wall[python]:13.2f} "
            f"{cpu[name] / cpu[python]:5.2f} {wall[name] / wall[curl]:11.2f} {cpu[name] / cpu[curl]:5.2f}{ir_text}"
        )
    print("  targets (wall): quick / python <= 1.1 (small), <= 1.3 (10k); quick / curl <= 1.1 (small)")


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> int:
    rounds = int(sys.argv[sys.argv.index("--rounds") + 1]) if "--rounds" in sys.argv else 150
    baseline = sys.argv[sys.argv.index("--baseline") + 1] if "--baseline" in sys.argv else None
    callgrind = "--callgrind" in sys.argv
    command = Path(sys.prefix) / "bin" / "healthgauge"
    curl = shutil.which("curl")
    if not command.exists() or curl is None:
        raise SystemExit(f"needs the installed command ({command}) and curl")
    workdir = Path(os.environ.get("TMPDIR", "/tmp")) / f"healthgauge-bench-{os.getpid()}"
    workdir.mkdir(exist_ok=True)
    print(f"python: {sys.executable} ({sys.version.split()[0]}); command: {command}")
    print(f"quick-path condition: {CONDITION}\nfull-path condition:  {FULL_CONDITION}")
    if baseline:
        print(f"baseline: {baseline}")
    for title, series in (("small page (20 series)", 20), ("10k-series page", 10_000)):
        body = page(series)
        endpoint, url = start_endpoint(body, workdir)
        try:
            commands = {
                "check, quick path": [str(command), "check", url, CONDITION],
                "check, full path": [str(command), "check", url, FULL_CONDITION],
                "python -I -S -c pass": [sys.executable, "-I", "-S", "-c", "pass"],
                "curl | grep": ["/bin/sh", "-c", f"{curl} -s {url} | grep -q 'app_state 1'"],
            }
            if baseline:
                commands["baseline, quick condition"] = [baseline, "check", url, CONDITION]
                commands["baseline, full condition"] = [baseline, "check", url, FULL_CONDITION]
            times = measure(commands, rounds, warmup=10)
            counts = {name: instructions(argv) for name, argv in commands.items() if callgrind and "curl" not in name}
            report(f"{title}, {len(body)} bytes", times, counts)
        finally:
            endpoint.stdin.close()  # type: ignore[union-attr]
            endpoint.wait(timeout=10)
    shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
