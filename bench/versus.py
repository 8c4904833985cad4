"""This tree's `healthgauge check` against another installed one (e.g. main's), side by side.

    git archive main | tar -x -C /tmp/hg-main && make -C /tmp/hg-main install EXTRAS=test
    .venv/bin/python bench/versus.py /tmp/hg-main/.venv/bin/healthgauge [--rounds N]

Both commands and `python -I -S -c pass` run once per round in a rotating order (bench/check.py's
measurement), on a small and a 10k-series page, for bench/check.py's condition and for one with
a regex matcher. Prints medians of wall and CPU time and the ratios this / other; on a shared
machine the CPU ratio is the steadier one.
"""

from __future__ import annotations

import os
import shutil
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import check as bc

CONDITIONS = {"bench/check.py's condition": bc.CONDITION, "a regex matcher": 'app_state{job=~"w.*|"} == 1'}


def main() -> int:
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    other = Path(sys.argv[1])
    rounds = int(sys.argv[sys.argv.index("--rounds") + 1]) if "--rounds" in sys.argv else 100
    ours = Path(sys.prefix) / "bin" / "healthgauge"
    workdir = Path(os.environ.get("TMPDIR", "/tmp")) / f"healthgauge-versus-{os.getpid()}"
    workdir.mkdir(exist_ok=True)
    try:
        for title, series in (("small page (20 series)", 20), ("10k-series page", 10_000)):
            endpoint, url = bc.start_endpoint(bc.page(series), workdir)
            try:
                for name, condition in CONDITIONS.items():
                    commands = {
                        "python -I -S -c pass": [sys.executable, "-I", "-S", "-c", "pass"],
                        "other": [str(other), "check", url, condition],
                        "this": [str(ours), "check", url, condition],
                    }
                    times = bc.measure(commands, rounds, warmup=10)
                    wall = {k: statistics.median(w) * 1000 for k, (w, _) in times.items()}
                    cpu = {k: statistics.median(c) * 1000 for k, (_, c) in times.items()}
                    base = wall["python -I -S -c pass"]
                    print(f"{title}, {name} ({rounds} alternating rounds):")
                    for k in commands:
                        print(f"  {k:22} wall {wall[k]:6.2f} ms ({wall[k] / base:.2f} x pass)   CPU {cpu[k]:6.2f} ms")
                    print(
                        f"  this / other: {wall['this'] / wall['other']:.3f} wall, {cpu['this'] / cpu['other']:.3f} CPU"
                    )
            finally:
                endpoint.stdin.close()  # type: ignore[union-attr]
                endpoint.wait(timeout=10)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
