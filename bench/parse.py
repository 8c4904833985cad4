"""Exposition parsing speed: healthgauge.exposition.parse vs prometheus_client's parser.

Generates realistic pages of 1k, 10k and 100k series (healthgauge.testing.realistic_page: labelled
counters and gauges, histograms, summaries, escaped label values), then times, interleaved in one
run so that a noisy machine hurts both sides alike:

- ours, full parse (``parse(page_bytes)``, the bytes as fetched);
- prometheus_client, ``text_string_to_metric_families(page_str)`` consumed to the last sample
  (given str, so its decoding is not counted against it);
- ours with ``names=`` and one metric family, against prometheus_client's full parse (it has no
  way to read only part of a page).

Figures are the best of several rounds. Targets (from the issue): full parse >= 8x on the 10k page;
names= with one metric on the 100k page >= 100x.

    .venv/bin/python bench/parse.py [--quick]
"""

from __future__ import annotations

import gc
import sys
import time
from collections.abc import Callable

from prometheus_client.parser import text_string_to_metric_families

from healthgauge.exposition import parse
from healthgauge.testing import realistic_families, render

SIZES = (1_000, 10_000, 100_000)


def best_of(rounds: int, *fns: Callable[[], object]) -> list[float]:
    """Best wall time of each function, the functions interleaved round by round."""
    best = [float("inf")] * len(fns)
    for _ in range(rounds):
        for i, fn in enumerate(fns):
            gc.collect()
            start = time.perf_counter()
            fn()
            best[i] = min(best[i], time.perf_counter() - start)
    return best


def client_samples(text: str) -> int:
    return sum(len(family.samples) for family in text_string_to_metric_families(text))


HEADER = (
    f"{'series':>8} {'MB':>6} {'ours MB/s':>10} {'client MB/s':>12} {'ratio':>7}"
    f"   names=(1 family) {'ms':>7} {'ratio':>8}"
)


def bench_size(size: int) -> str:
    families = realistic_families(size, seed=size)
    text = render(families)
    data = text.encode()
    # One histogram family: what a probe asks for (a few hundred of the page's lines).
    wanted = [next(f.name for f in families if f.type == "histogram")]
    # The generator's objects are no part of either parser's process: the garbage collector
    # would walk them on every full collection, on both sides.
    del families
    selected = parse(data, names=wanted)
    assert len(parse(data)) == size == client_samples(text)
    assert selected
    assert all(s.name.startswith(wanted[0]) for s in selected)
    rounds = 3 if size >= 100_000 else 7
    ours, client, names = best_of(
        rounds, lambda: parse(data), lambda: client_samples(text), lambda: parse(data, names=wanted)
    )
    mb = len(data) / 1e6
    return (
        f"{size:>8} {mb:>6.2f} {mb / ours:>10.1f} {mb / client:>12.2f} {client / ours:>6.1f}x"
        f"   {len(selected):>4} samples {names * 1000:>7.2f} {client / names:>7.0f}x"
    )


def main(argv: list[str]) -> int:
    sizes = SIZES[:2] if "--quick" in argv else SIZES
    print(HEADER)
    for size in sizes:
        print(bench_size(size))
    print("ratio = prometheus_client time / ours (higher is better), best of several interleaved rounds")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
