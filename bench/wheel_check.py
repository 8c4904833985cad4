"""`healthgauge check` from a plain wheel install against the same from `make install`, side by side.

A wheel installed by pip keeps the launcher's `/bin/sh` first line (pip cannot put interpreter
flags on a shebang); `make install` rewrites it to start the venv's interpreter with `-IS`
directly. This builds a wheel of this checkout, installs it into a fresh virtual environment
(or uses `--venv DIR`, one made before), and runs, alternating in a rotating order:

- `healthgauge check` from the wheel's venv;
- `healthgauge check` from this venv (`make install`);
- the wheel's command with the README's one-line rewrite (`#!<venv>/bin/python3 -IS`);
- `python -I -S -c pass`, the floor;

with the condition and small page of `bench/check.py`. Prints medians and ratios.

    .venv/bin/python bench/wheel_check.py [--rounds N] [--venv DIR]
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from check import CONDITION, measure, page, start_endpoint  # bench/check.py

ROOT = Path(__file__).resolve().parents[1]


def wheel_venv(workdir: Path) -> Path:
    """Build a wheel of this checkout and install it into a fresh venv; return the venv."""
    dist = workdir / "dist"
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "wheel", "--no-deps", "-w", str(dist), str(ROOT)], check=True, timeout=600)
    venv = workdir / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    (wheel,) = dist.glob("healthgauge-*.whl")
    subprocess.run([*pip, "--python", str(venv / "bin" / "python"), "install", str(wheel)], check=True, timeout=600)
    return venv


def main() -> int:
    rounds = int(sys.argv[sys.argv.index("--rounds") + 1]) if "--rounds" in sys.argv else 200
    workdir = Path(tempfile.mkdtemp(prefix="healthgauge-wheel-bench-"))
    try:
        venv = Path(sys.argv[sys.argv.index("--venv") + 1]) if "--venv" in sys.argv else wheel_venv(workdir)
        wheel_cmd, make_cmd = venv / "bin" / "healthgauge", Path(sys.prefix) / "bin" / "healthgauge"
        # The README's one-line rewrite (its "Install" section), on a copy beside the original.
        direct = venv / "bin" / "healthgauge-direct"
        lines = wheel_cmd.read_text().splitlines(keepends=True)
        direct.write_text(f"#!{venv.absolute()}/bin/python3 -IS\n" + "".join(lines[1:]))
        direct.chmod(0o755)
        print(f"wheel install: {wheel_cmd} (first line {wheel_cmd.read_text().splitlines()[0]!r})")
        print(f"make install:  {make_cmd} (first line {make_cmd.read_text().splitlines()[0]!r})")
        endpoint, url = start_endpoint(page(20), workdir)
        try:
            commands = {
                "check (wheel)": [str(wheel_cmd), "check", url, CONDITION],
                "check (make install)": [str(make_cmd), "check", url, CONDITION],
                "check (wheel, rewritten)": [str(direct), "check", url, CONDITION],
                "python -I -S -c pass": [sys.executable, "-I", "-S", "-c", "pass"],
            }
            times = measure(commands, rounds, warmup=10)
        finally:
            endpoint.stdin.close()  # type: ignore[union-attr]
            endpoint.wait(timeout=10)
        wall = {name: statistics.median(w) * 1000 for name, (w, _) in times.items()}
        cpu = {name: statistics.median(c) * 1000 for name, (_, c) in times.items()}
        print(f"\nsmall page, {rounds} alternating rounds (a shared machine: compare the ratios)")
        for name in commands:
            print(f"  {name:<26} wall median {wall[name]:6.2f} ms   CPU median {cpu[name]:6.2f} ms")
        w, m, p = "check (wheel)", "check (make install)", "python -I -S -c pass"
        print(f"  wheel / make install = {wall[w] / wall[m]:.3f} wall, {cpu[w] / cpu[m]:.3f} CPU")
        r = "check (wheel, rewritten)"
        print(f"  wheel rewritten / make install = {wall[r] / wall[m]:.3f} wall, {cpu[r] / cpu[m]:.3f} CPU")
        print(f"  wheel / python = {wall[w] / wall[p]:.2f}, make install / python = {wall[m] / wall[p]:.2f} (wall)")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    sys.exit(main())
