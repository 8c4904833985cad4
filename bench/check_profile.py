"""Where the time of one `healthgauge check` goes: stage by stage, in instructions and page faults.

Wall time on a shared VM is noisy; instruction counts (valgrind's callgrind, when installed) are
repeatable to a few thousand, and minor page faults (getrusage) are exact. Each stage is a program
run as the installed command runs (`python -I -S`), stopped with `posix._exit` at that point:

  python -I -S -c pass          the interpreter's start and teardown (the bench's yardstick)
  start                         the interpreter's start only (a check leaves without teardown)
  start + _socket               the extension module every probe needs
  launcher + quick path loaded  the launcher finds the package and loads the quick path's modules
  launcher + bundle loaded      the launcher finds the package and loads the full path
  check --help                  ... and runs the command line parser (no I/O)
  check, small page             the whole check against a 20-series page (the quick path answers)
  check, 10k-series page        the whole check against a 10k-series page (1.2 MB)
  full path, small page         a condition outside the quick path's subset, 20-series page
  full path, 10k-series page    ... and on the 10k-series page
  small, without the bundle     the full-path small-page check importing its modules one by one
  small, without exprcache      the full-path small-page check compiling its condition (promql-parser)
  floor: _socket GET + find     the least any Python probe does: fetch the page, find one line

Each figure is the median of `--rounds` runs (wall and faults) and one callgrind run (instructions).

    .venv/bin/python bench/check_profile.py [--rounds N] [--no-callgrind]
"""

from __future__ import annotations

import os
import resource
import shutil
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from check import CONDITION, FULL_CONDITION, instructions, page, start_endpoint

LAUNCHER = Path(sys.prefix) / "bin" / "healthgauge"
# Copies of the launcher with its last line (``_launch()``) changed, run as scripts as the launcher
# is (`compile()` in a driver would cost more than what is measured): stop once the quick path is
# loaded, or the full path; run the check without the bundle (modules imported one by one), or
# without the compiled-conditions cache.
LAUNCH_CALL = "\n_launch()\n"
_CHECK_PACKAGE = (
    "import gc, posix; gc.disable(); from healthgauge import _from_pyc; _from_pyc('healthgauge._check'); "
    "from healthgauge._check import preload; "
)
QUICK_ONLY = _CHECK_PACKAGE + "import healthgauge._check._quick; preload('_quick_eval', '_quick_fetch'); posix._exit(0)"
LOADED_ONLY = (
    _CHECK_PACKAGE + "preload('startup', 'startup._fastload'); "
    "from healthgauge._check.startup import _fastload; _fastload.load(); posix._exit(0)"
)
NO_BUNDLE = "from healthgauge._check.startup import _fastload; _fastload.load = lambda: False; _launch()"
NO_EXPRCACHE = (
    "from healthgauge._check.startup import _fastload; _fastload.load(); import healthgauge._check._command as c; "
    "from healthgauge.promql import compile; c.compile_all = lambda texts: [compile(t) for t in texts]; _launch()"
)
FLOOR = """
import _socket, posix, sys
host, port = sys.argv[1], int(sys.argv[2])
s = _socket.socket(_socket.AF_INET, _socket.SOCK_STREAM)
s.settimeout(1.0)
s.connect((host, port))
s.sendall(b"GET /metrics HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n")
found, tail = False, b""
while chunk := s.recv(65536):
    found = found or (tail + chunk).find(b"\\napp_state 1") >= 0
    tail = chunk[-16:]
sys.stdout.write("OK\\n" if found else "FAIL\\n")
sys.stdout.flush()
posix._exit(0 if found else 2)
"""


def run(argv: list[str], devnull: int) -> tuple[float, int]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    pid = os.posix_spawn(argv[0], argv, os.environ, file_actions=[(os.POSIX_SPAWN_DUP2, devnull, 1)])
    _, status = os.waitpid(pid, 0)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if os.waitstatus_to_exitcode(status) not in (0, 1):
        raise SystemExit(f"exited {os.waitstatus_to_exitcode(status)}: {' '.join(argv)}")
    return wall, after.ru_minflt - before.ru_minflt


def main() -> int:
    rounds = int(sys.argv[sys.argv.index("--rounds") + 1]) if "--rounds" in sys.argv else 40
    use_callgrind = "--no-callgrind" not in sys.argv
    if not LAUNCHER.exists():
        raise SystemExit(f"needs the installed command ({LAUNCHER})")
    py = [sys.executable, "-I", "-S"]
    workdir = Path(os.environ.get("TMPDIR", "/tmp")) / f"healthgauge-profile-{os.getpid()}"
    workdir.mkdir(exist_ok=True)
    small, small_url = start_endpoint(page(20), workdir)
    big, big_url = start_endpoint(page(10_000), workdir)
    host, _, port = small_url.removeprefix("http://").partition("/")[0].partition(":")
    variants = {}
    launcher = LAUNCHER.read_text()
    if not launcher.endswith(LAUNCH_CALL):
        raise SystemExit(f"{LAUNCHER} is not the launcher this measures (scripts/healthgauge)")
    for name, change in (
        ("quick-only", QUICK_ONLY),
        ("loaded-only", LOADED_ONLY),
        ("no-bundle", NO_BUNDLE),
        ("no-exprcache", NO_EXPRCACHE),
    ):
        variants[name] = workdir / f"launcher-{name}"
        variants[name].write_text(launcher.removesuffix(LAUNCH_CALL) + "\n" + change + "\n")
    try:
        stages = {
            "python -I -S -c pass": [*py, "-c", "pass"],
            "start": [*py, "-c", "import posix; posix._exit(0)"],
            "start + _socket": [*py, "-c", "import _socket, posix; posix._exit(0)"],
            "launcher + quick path loaded": [*py, str(variants["quick-only"]), "check"],
            "launcher + bundle loaded": [*py, str(variants["loaded-only"]), "check"],
            "check --help": [*py, str(LAUNCHER), "check", "--help"],
            "check, small page": [*py, str(LAUNCHER), "check", small_url, CONDITION],
            "check, 10k-series page": [*py, str(LAUNCHER), "check", big_url, CONDITION],
            "full path, small page": [*py, str(LAUNCHER), "check", small_url, FULL_CONDITION],
            "full path, 10k-series page": [*py, str(LAUNCHER), "check", big_url, FULL_CONDITION],
            "small, without the bundle": [*py, str(variants["no-bundle"]), "check", small_url, FULL_CONDITION],
            "small, without exprcache": [*py, str(variants["no-exprcache"]), "check", small_url, FULL_CONDITION],
            "floor: _socket GET + find": [*py, "-c", FLOOR, host, port],
        }
        for argv in stages.values():  # build the bundle and the compiled-conditions cache first
            run(argv, os.open(os.devnull, os.O_WRONLY))
        walls: dict[str, list[float]] = {name: [] for name in stages}
        faults: dict[str, list[int]] = {name: [] for name in stages}
        with open(os.devnull, "wb") as sink:
            names = list(stages)
            for n in range(rounds):
                for name in names[n % len(names) :] + names[: n % len(names)]:
                    wall, minflt = run(stages[name], sink.fileno())
                    walls[name].append(wall * 1000)
                    faults[name].append(minflt)
        counts = {name: instructions(argv) if use_callgrind else None for name, argv in stages.items()}
    finally:
        for proc in (small, big):
            proc.stdin.close()  # type: ignore[union-attr]
            proc.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)
    base = statistics.median(walls["python -I -S -c pass"])
    base_ir = counts["python -I -S -c pass"]
    print(f"python: {sys.executable} ({sys.version.split()[0]}); {rounds} alternating rounds")
    print(f"quick-path condition: {CONDITION}\nfull-path condition:  {FULL_CONDITION}")
    print(f"{'stage':<28} {'wall ms':>8} {'x pass':>7} {'minflt':>7} {'instructions':>14} {'x pass':>7}")
    for name in stages:
        wall = statistics.median(walls[name])
        ir = counts[name]
        ir_text = f"{ir:>14,}" if ir is not None else f"{'-':>14}"
        ratio = f"{ir / base_ir:>7.2f}" if ir is not None and base_ir else f"{'-':>7}"
        print(f"{name:<28} {wall:>8.2f} {wall / base:>7.2f} {statistics.median(faults[name]):>7.0f} {ir_text} {ratio}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
