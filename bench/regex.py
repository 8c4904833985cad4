"""Label regexes: RE2 (what healthgauge runs now) against Python's backtracking `re` (what it ran
before), side by side, and what loading each costs a fresh `python -I -S`.

1. Matching time of the pathological rule of issue #13, `(.*/)*health` fully anchored, against a
   label value of N path segments that does not end in `health`: Python's `re` (the former engine,
   ``fullmatch`` of the same pattern) doubles its time with each segment; RE2 is linear. Each
   engine's rounds alternate; `re` stops at a per-match time cap so the run stays bounded.
2. Start-up: `python -I -S -c pass`, + `import re` (the former engine), + `import re2` (the whole
   package), `healthgauge.promql` alone and with `_regex`'s direct load of `re2._re2` compiling a
   matcher, alternating, medians and ratios to `pass`.

    .venv/bin/python bench/regex.py [--rounds N]

The machine may be shared: the figures are ratios measured side by side, not absolute truths.
"""

from __future__ import annotations

import argparse
import re
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

from healthgauge.promql._regex import compile_matcher

PATTERN = "(.*/)*health"
CAP_S = 2.0  # a backtracking match slower than this ends the `re` series


def value(segments: int) -> str:
    return "seg/" * segments + "healthz"  # does not match: every way of splitting is tried


def timed(fn: object, text: str, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn(text)  # type: ignore[operator]
        best = min(best, time.perf_counter() - start)
    return best


def matching(rounds: int) -> None:
    backtracking = re.compile(f"(?:{PATTERN})").fullmatch
    print(f"matching {PATTERN!r} (anchored) against N path segments, best of {rounds}:")
    print(f"{'N':>5} {'re (before)':>14} {'RE2 (now)':>12} {'re / RE2':>10}")
    re_done = False
    for segments in (8, 12, 16, 18, 20, 22, 24, 26, 1000, 100000):
        text = value(segments)
        ours = compile_matcher(PATTERN)
        # A fresh matcher per round: its per-value cache would otherwise answer.
        re2_s = min(timed(compile_matcher(PATTERN), text, 1) for _ in range(rounds))
        assert not ours(text)
        if re_done:
            print(f"{segments:>5} {'(stopped)':>14} {re2_s * 1e6:>10.1f}us")
            continue
        re_s = timed(backtracking, text, 1 if segments >= 20 else rounds)
        print(f"{segments:>5} {re_s * 1e3:>12.3f}ms {re2_s * 1e6:>10.1f}us {re_s / re2_s:>10.0f}")
        re_done = re_s > CAP_S


def startup(rounds: int) -> None:
    site = [p for p in sys.path if p.endswith("site-packages")]
    src = str(Path(__file__).resolve().parents[1] / "src")
    prelude = f"import sys; sys.path[:0] = {[src, *site]!r}; "
    programs = {
        "pass": "pass",
        "import re": prelude + "import re; re.compile('(?:a.*)').fullmatch",
        "import re2": prelude + "import re2",
        "healthgauge.promql alone": prelude + "import healthgauge.promql",
        "promql._regex (re2._re2)": prelude + "from healthgauge.promql._regex import compile_matcher as c; c('a.*')",
    }
    times: dict[str, list[float]] = {name: [] for name in programs}
    cpu: dict[str, list[float]] = {name: [] for name in programs}
    for i in range(rounds):
        names = list(programs)
        names = names[i % len(names) :] + names[: i % len(names)]  # rotate the order
        for name in names:
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            start = time.perf_counter()
            subprocess.run([sys.executable, "-I", "-S", "-c", programs[name]], check=True)
            times[name].append(time.perf_counter() - start)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu[name].append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    base = statistics.median(times["pass"])
    base_cpu = statistics.median(cpu["pass"])
    print(f"\nstart-up, median of {rounds} alternating runs of python -I -S (CPU: the child's user + system):")
    for name, values in times.items():
        median, c = statistics.median(values), statistics.median(cpu[name])
        print(
            f"  {name:26} wall {median * 1e3:6.2f} ms {median / base:5.2f} x pass (+{(median - base) * 1e3:5.2f} ms)"
            f"   CPU {c * 1e3:6.2f} ms {c / base_cpu:5.2f} x pass (+{(c - base_cpu) * 1e3:5.2f} ms)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    matching(min(args.rounds, 5))
    startup(args.rounds)


if __name__ == "__main__":
    main()
