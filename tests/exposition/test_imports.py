"""`healthgauge check` imports the parser on its hot path: importing it, and parsing with names=
(or in full), must load nothing beyond our own modules (DEVELOPERS.md, "The check path")."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import healthgauge

SRC = str(Path(healthgauge.__file__).resolve().parent.parent)

# What the parser may add to a bare `python -I -S`: `from __future__ import annotations` and the
# C itemgetter, besides our own modules.
ALLOWED = {"__future__", "_operator"}
FORBIDDEN = {"re", "typing", "dataclasses", "enum", "json", "collections", "functools", "inspect", "os", "socket"}

SCRIPT = """
import json, sys
sys.path.insert(0, {src!r})
baseline = set(sys.modules) | {{"json", "json.decoder", "json.scanner", "json.encoder", "_json"}}
import healthgauge.exposition as exposition
imported = set(sys.modules)
page = b'# HELP a A.\\n# TYPE a gauge\\na{{x="1",y="2"}} 1\\nb 2 1700000000000\\nh_bucket{{le="+Inf"}} 3\\n'
exposition.parse(page, names=["a", "h"])
after_names = set(sys.modules)
exposition.parse(page)
exposition.parse_lenient(b'c{{q="\\\\q"}} NaN\\nd 1\\r\\n  e 1\\n')
om = "application/openmetrics-text"
exposition.parse_lenient(b'a_total{{x="1"}} 1 # {{t="x"}} 1\\nbad\\n# EOF\\n', content_type=om)
after_full = set(sys.modules)
print(json.dumps([sorted(imported - baseline), sorted(after_names - imported), sorted(after_full - after_names)]))
"""


def run_isolated() -> list[list[str]]:
    out = subprocess.run(
        [sys.executable, "-I", "-S", "-c", SCRIPT.format(src=SRC)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    result: list[list[str]] = json.loads(out.stdout)
    return result


def test_import_and_parse_load_only_our_modules() -> None:
    on_import, on_names, on_full = run_isolated()
    foreign = {m for m in on_import if not m.startswith("healthgauge")} - ALLOWED
    assert foreign == set(), foreign
    assert not FORBIDDEN & set(on_import)
    assert on_names == [], "a names= parse imported modules"
    # Odd lines (escapes, exemplars, errors) need the full grammar, imported for them only.
    assert on_full == ["healthgauge.exposition._scan", "healthgauge.exposition._slow"], on_full
