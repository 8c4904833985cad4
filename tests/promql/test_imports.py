"""The check path imports healthgauge.promql: it must load nothing slow (DEVELOPERS.md, "The check path")."""

import ast
import subprocess
import sys
from pathlib import Path

import healthgauge

SRC = str(Path(healthgauge.__file__).parent.parent)
FORBIDDEN = {"re", "typing", "dataclasses", "enum", "json", "argparse", "socket", "asyncio", "logging", "decimal"}


def _modules_after(code: str) -> set[str]:
    site = [p for p in sys.path if p.endswith("site-packages")]
    prog = (
        "import sys\n"
        f"sys.path[:0] = {[SRC, *site]!r}\n"
        "before = set(sys.modules)\n"
        f"{code}\n"
        "print(sorted(set(sys.modules) - before))\n"
    )
    out = subprocess.run([sys.executable, "-I", "-S", "-c", prog], capture_output=True, text=True, check=True)
    return set(ast.literal_eval(out.stdout))


def test_import_loads_nothing_slow() -> None:
    loaded = _modules_after("import healthgauge.promql")
    assert not loaded & FORBIDDEN, loaded & FORBIDDEN


def test_equality_condition_over_a_scrape_loads_nothing_slow() -> None:
    code = (
        "import healthgauge.promql as p\n"
        "class S:\n"
        "    name = 'queue_depth'; labels = {'queue': 'default'}; value = 12.0; timestamp = None\n"
        "e = p.compile('sum(rate(queue_depth{queue=\"default\"}[1m])) < 1000 and queue_depth > 0')\n"
        "e.condition(p.History.from_scrape([S()], 100.0), 100.0)\n"
    )
    loaded = _modules_after(code)
    assert not loaded & FORBIDDEN, loaded & FORBIDDEN


def test_a_regex_matcher_loads_re2_not_re() -> None:
    """RE2's extension module alone (not the ``re2`` package's wrapper), and never ``re``."""
    loaded = _modules_after("import healthgauge.promql as p\np.compile('x{a=~\"b.*\"}')")
    assert "re2._re2" in loaded
    assert not loaded & (FORBIDDEN | {"re2", "functools", "itertools", "codecs"}), loaded & FORBIDDEN
