"""The real-process smoke test, short (spec §12): uvicorn + middleware + agent-check on loopback,
driven by the open-loop generator in its own process. Asserts only what stays robust on a noisy
2-core machine; the full run and its figures are `python bench/overload/smoke.py`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SMOKE = Path(__file__).resolve().parents[2] / "bench" / "overload" / "smoke.py"


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_smoke_short(tmp_path: Path) -> None:
    pytest.importorskip("uvicorn")
    out = tmp_path / "smoke.json"
    proc = subprocess.run(
        [sys.executable, str(SMOKE), "--short", "--no-overhead", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=200,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = json.loads(out.read_text())
    checks = report["checks"]
    # Wire contract: every shed carries Retry-After and Healthgauge-Overload.
    assert checks["every_503_marked"]
    # Shutdown: drain answered, in-flight requests finished, exit within the grace bound.
    assert checks["sigterm_drain"], report["sigterm"]
    if not report["valid"]:
        # The generator itself fell behind (a busy shared machine): the load was not delivered,
        # so nothing below measures the server. The run is invalid, not failed (spec §12).
        return
    hot = report["phases"][1]
    # At 2× the middleware sheds, and still serves a good part of capacity within the deadline.
    # (Shedding at 0.5× is printed, not asserted: on a host shared with other CPU-bound work the
    # event-loop lag is real queueing, and the default policy answers it.)
    # (> 5 %, not 10 %: the default enters only on a growing backlog and lets go to probe it
    # after hold_time, re-entering once it regrows past 1.5 × the lag it entered at: 9.9 %
    # measured once with 1-s pauses; not re-measured often enough since to tighten safely.)
    # Late answers at 2×: < 20 %, was < 5 % — the cost of those probes (14 % measured once with the
    # second round's pauses); kept loose for a loaded CI host (docs/overload.md).
    if hot["shed_pct"] <= 5 or hot["late_pct"] >= 20:
        # Issue #11, not met: the default can miss a short (6-s) 2× phase at its first entry, or
        # enter it late — on a quiet host in 1 of 3 runs of the previous detector, 2 of 7 and
        # 1 of 3 of this one. Reported as the known failure it is (xfail), never as a pass.
        pytest.xfail(f"#11: the 2x phase shed {hot['shed_pct']:.1f} %, {hot['late_pct']:.1f} % late")
    assert hot["goodput_pct"] >= 60, report["phases"]
    # The load balancer is told: the weight falls under overload.
    assert checks["weight_lower_during_overload"], report
