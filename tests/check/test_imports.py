"""Pin the modules ``healthgauge check`` loads: each one is paid for on every probe.

Run as the installed command runs (``python -I -S``, the launcher's own path set-up), compare
``sys.modules`` before and after a real check against a loopback server. A module added here needs
a measurement (DEVELOPERS.md, "The check path"): `bench/check.py` prints the figures.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from healthgauge.testing import MetricsServer

LAUNCHER = Path(sys.prefix) / "bin" / "healthgauge"
PAGE = "# TYPE app_state gauge\napp_state 1\napp_last_iteration_ts 1e9\n"
CONDITION = 'app_state{job!="batch"} == 1 and time() - app_last_iteration_ts > 60'

# The quick path from a command line's plan (healthgauge._check.read_plan: every run of a command
# line but its first): its three modules, and the socket module any probe needs.
QUICK = {
    "healthgauge",
    "healthgauge._check",
    "healthgauge._check._quick_net",
    "healthgauge._check._quick_fetch",
    "healthgauge._check._quick_eval",
    "_socket",
    "gc",
}
# The first run of a command line reads it (_quick) and keeps its plan (_plan, with startup's helpers).
FIRST = QUICK | {"healthgauge._check._quick", "healthgauge._check._plan", "healthgauge._check.startup"}
OURS = {
    "healthgauge",
    "healthgauge._check",
    "healthgauge._check._quick",
    "healthgauge._check._command",
    "healthgauge._check._args",
    "healthgauge._check._deadline",
    "healthgauge._check._report",
    "healthgauge._check.startup",
    "healthgauge._check.startup._exprcache",
    "healthgauge._check.startup._fastload",
    "healthgauge.http",
    "healthgauge.http.fetch",
    "healthgauge.http._http11",
    "healthgauge.http._url",
    "healthgauge.http._flow",
    "healthgauge.health",
    "healthgauge.health._judge",
    "healthgauge.health._status",
    "healthgauge.exposition",
    "healthgauge.exposition._content",
    "healthgauge.exposition._errors",
    "healthgauge.exposition._limits",
    "healthgauge.exposition._numbers",
    "healthgauge.exposition._parse",
    "healthgauge.exposition._sample",
    "healthgauge.exposition._names",
    "healthgauge.exposition._select",
    "healthgauge.promql",
    "healthgauge.promql._errors",
    "healthgauge.promql._expr",
    "healthgauge.promql._floats",
    "healthgauge.promql._history",
    "healthgauge.promql._nodes",
}
# Each measured (DEVELOPERS.md, bench/check_profile.py): `_socket` ~0.5 ms (1.2 M instructions),
# promql-parser ~1.5 ms; `_operator` and `gc` are built into the interpreter (no file to read).
# `__future__` (0.47 M) is not loaded: the bundle compiles `from __future__ import annotations`
# as a compiler flag. `math` and `bisect` (~0.2 ms each) load only with the
# operators and functions that need them.
THEIRS = {"_operator", "_socket", "gc"}
ALLOWED = OURS | THEIRS
# What a condition calling time() adds: time()'s own module, no other function's (nor their table).
TIME = {"healthgauge.promql._fn_time"}
# Only when a set of conditions is compiled rather than read back from `healthgauge._exprcache`:
# the first run of a command line, or one with a regular expression. promql-parser alone is ~1.5 ms;
# promql._syntax measured within 1 % of Python's start.
COMPILER = {
    "healthgauge.promql._compile",
    "healthgauge.promql._syntax",
    "promql_parser",
    "promql_parser.promql_parser",
}
# What only some runs may add: TLS for https, zlib for a gzip page, re for a regex.
SLOW = {"re", "typing", "dataclasses", "json", "argparse", "socket", "ssl", "http", "asyncio", "logging", "enum", "os"}

# The installed launcher itself, run under `python -I -S` as its first line would run it; it ends
# with posix._exit (or sys.exit), made here to raise SystemExit so that this program can report.
PROGRAM = """
import sys, posix


def leave(code):
    raise SystemExit(code)


posix._exit = leave
launcher = sys.argv[1]
sys.argv = [launcher, *sys.argv[2:]]
code = compile(open(launcher).read(), launcher, "exec")
before = set(sys.modules)
try:
    exec(code, {"__name__": "__main__"})
except SystemExit as exc:
    status = exc.code
# The eager part ran from the bundle, and time()'s module (when a condition calls it) from its lazy part.
fn_time = sys.modules.get("healthgauge.promql._fn_time")
lazy_ok = fn_time is None or type(fn_time.__loader__).__name__ == "_Bundle"
fastload = sys.modules.get("healthgauge._check.startup._fastload")
bundled = fastload is not None and fastload.loaded and lazy_ok
print("lib-dynload searched:", any(entry.endswith("/lib-dynload") for entry in sys.path_importer_cache))
print(status, bundled, sorted(set(sys.modules) - before))
"""


def modules_loaded(*args: str) -> tuple[int, set[str], bool]:
    """Exit code and the modules a check loads, run the launcher's way under ``python -I -S``
    (the full path from the one-file bundle of ``startup._fastload`` when it is fresh), and whether it ran
    from the bundle. The check runs twice: what is reported is the second run, with the bundle
    built and the conditions compiled by the first."""
    code, bundled, modules = run_check(*args).splitlines()[-1].split(" ", 2)
    return int(code), set(ast.literal_eval(modules)), bundled == "True"


def run_check(*args: str, runs: int = 2) -> str:
    """What ``PROGRAM`` prints for the last of ``runs`` runs of ``healthgauge check ARGS``."""
    if not LAUNCHER.exists():
        pytest.skip("the package is not installed into this interpreter's prefix")
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, "-I", "-S", "-c", PROGRAM, str(LAUNCHER), "check", *args],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
    return out.stdout


@pytest.fixture(scope="module")
def server() -> MetricsServer:
    with MetricsServer(PAGE) as s:
        yield s  # type: ignore[misc]


def test_a_quick_check_loads_its_three_modules(server: MetricsServer) -> None:
    code, loaded, bundled = modules_loaded(server.url, CONDITION)
    assert code == 0
    assert loaded == QUICK, f"added: {sorted(loaded - QUICK)}, no longer loaded: {sorted(QUICK - loaded)}"
    assert not bundled


def test_the_first_run_of_a_command_line_reads_it_and_keeps_its_plan(server: MetricsServer) -> None:
    from healthgauge._check import plan_path

    args = [server.url, CONDITION, "--warn", "app_state > 1"]
    path = Path(plan_path(["check", *args][1:]))
    path.unlink(missing_ok=True)
    code, bundled, modules = run_check(*args, runs=1).splitlines()[-1].split(" ", 2)
    loaded = set(ast.literal_eval(modules))
    assert (code, bundled) == ("0", "False")
    assert loaded == FIRST, f"added: {sorted(loaded - FIRST)}, no longer loaded: {sorted(FIRST - loaded)}"
    assert path.exists()


def test_a_full_path_check_loads_exactly_the_allowed_modules(server: MetricsServer) -> None:
    code, loaded, bundled = modules_loaded(server.url, CONDITION, "--warn", "absent(app_state)")  # absent(): full path
    assert code == 0
    expected = ALLOWED | TIME | {"healthgauge.promql._fn_vector"}
    assert loaded == expected, f"added: {sorted(loaded - expected)}, no longer loaded: {sorted(expected - loaded)}"
    assert bundled, "the second run did not run from the bundle (eager part, and time()'s module from the lazy part)"


def test_a_regex_condition_loads_the_compiler_and_re2(server: MetricsServer) -> None:
    code, loaded, _ = modules_loaded(server.url, 'app_state{job=~"w.*|"} == 1', "--json")  # the full path
    assert code == 0
    assert loaded >= COMPILER
    assert {"re2._re2", "healthgauge.promql._regex"} <= loaded
    assert "re" not in loaded  # RE2's extension alone (~3 ms less than `re`, bench/regex.py)


def test_a_failing_check_loads_nothing_more(server: MetricsServer) -> None:
    code, loaded, _ = modules_loaded(server.url, "app_state == 0", "--warn", "up")
    assert code == 2
    # the quick path fetched (from the command line's plan), then handed over
    handed_over = ALLOWED | QUICK
    assert loaded <= handed_over, sorted(loaded - handed_over)


def test_an_unreadable_page_loads_nothing_slow() -> None:
    with MetricsServer("", status=503) as server:
        code, loaded, _ = modules_loaded(server.url, "up")
    assert code == 2
    assert not loaded & SLOW, sorted(loaded & SLOW)


def test_the_drop_in_flags_add_their_parser_only(server: MetricsServer) -> None:
    code, loaded, _ = modules_loaded(server.url, "--check-up", "app_state")
    assert code == 0
    assert loaded == QUICK, sorted(loaded ^ QUICK)  # from its plan: the first run parsed the flags


@pytest.mark.parametrize("gzip", [False, True])
def test_a_chunked_page_is_read_by_the_quick_path(gzip: bool) -> None:  # Go's exporters send them
    with MetricsServer(PAGE, chunked=True, gzip=gzip) as server:
        code, loaded, _ = modules_loaded(server.url, "app_state == 1")
    assert code == 0
    assert loaded == QUICK | ({"zlib"} if gzip else set()), sorted(loaded ^ QUICK)


def test_gzip_loads_zlib_only_then() -> None:
    with MetricsServer(PAGE, gzip=True) as server:
        code, loaded, _ = modules_loaded(server.url, "app_state == 1")
        assert code == 0
        assert loaded == QUICK | {"zlib"}
        code, loaded, _ = modules_loaded(server.url, "app_state == 1", "--json")
    assert code == 0
    assert loaded == ALLOWED | {"zlib", "healthgauge._check._json"}


def test_json_output_loads_its_writer_only(server: MetricsServer) -> None:
    # `import json` would double a check's cost (it imports `re`, `enum`, `collections`...).
    code, loaded, _ = modules_loaded(server.url, "app_state == 1", "--json")
    assert code == 0
    assert loaded == ALLOWED | {"healthgauge._check._json"}, sorted(loaded ^ ALLOWED)


def test_a_name_loads_the_resolver_thread_support_only(server: MetricsServer) -> None:
    code, loaded, _ = modules_loaded(server.url.replace("127.0.0.1", "localhost"), "app_state == 1")
    assert code == 0
    assert loaded == QUICK, sorted(loaded ^ QUICK)


@pytest.mark.parametrize("gzip", [False, True])
def test_a_big_or_gzip_page_loads_its_extension_without_the_paths_search(gzip: bool) -> None:
    # Over 512 KiB: received into a mapping (mmap); gzip: inflated (zlib). Each loaded straight from
    # lib-dynload (_check.load_extension): the path's search lists the standard library, ~0.15 ms.
    big = "# TYPE filler gauge\n" + "".join(f'filler{{i="{i}"}} {i}\n' for i in range(40_000)) + PAGE
    with MetricsServer(big, gzip=gzip) as server:
        searched, last = run_check(server.url, "app_state == 1").splitlines()[-2:]
    code, _, modules = last.split(" ", 2)
    assert int(code) == 0
    assert set(ast.literal_eval(modules)) == QUICK | ({"zlib"} if gzip else {"mmap"})
    assert searched == "lib-dynload searched: False"
