"""Evaluation cost of PromQL conditions: over one 10k-series scrape (the check path) and over a
10-minute history (the agent). Prints medians, per-series costs, and ratios side by side with a
plain-Python baseline measured in the same run (the machine is shared: compare ratios, not times).

    .venv/bin/python bench/promql.py
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from healthgauge import exposition
from healthgauge.promql import History, compile
from support.promql import S

NOW = 1_700_000_000.0


def timed(fn: Callable[[], object], *, repeat: int = 15, budget: float = 3.0) -> float:
    """Median seconds of ``fn``, bounded in repetitions and in total time."""
    runs = []
    start = time.perf_counter()
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - t)
        if time.perf_counter() - start > budget:
            break
    return statistics.median(runs)


def scrape_page() -> list[S]:
    """10,000 series: 100 families of 100 series, plus the families the conditions read."""
    samples = [
        S(f"family_{f}_total", float(i), None, job="api", instance=f"i{i}") for f in range(99) for i in range(100)
    ]
    samples += [S("queue_depth", float(i * 7 % 2000), None, queue=f"q{i}", job="worker") for i in range(98)]
    samples += [S("queue_depth", 12.0, None, queue="default", job="worker"), S("app_state", 1.0)]
    return samples


def _labels(labels: dict[str, str]) -> str:
    return ",".join(f'{k}="{v}"' for k, v in labels.items())


def fmt(seconds: float) -> str:
    return f"{seconds * 1e6:9.1f} µs"


def main() -> None:
    print("== compile (once per check run, once per agent config load)")
    for text in ("app_state == 1", "increase(jobs_processed_total[2m]) == 0 and queue_depth > 0"):
        print(f"{text:60s} {fmt(timed(lambda t=text: compile(t), repeat=200, budget=1.0))}")
    page = scrape_page()
    print(f"\n== one scrape: {len(page)} series")
    baseline = timed(lambda: sum(s.value for s in page))
    print(f"baseline: a Python loop summing the page's values     {fmt(baseline)}")
    conditions = [
        'queue_depth{queue="default"} < 1000',
        "app_state == 1",
        "sum by (job) (queue_depth) > 0",
        'max(queue_depth{queue=~"q1.*"}) < 5000',
    ]
    for text in conditions:
        expr = compile(text)
        names = expr.names or set()
        relevant = [s for s in page if s.name in names]  # what exposition.parse(names=...) hands over
        build_and_judge = timed(lambda e=expr, r=relevant: e.condition(History.from_scrape(r, NOW), NOW))
        whole_page = timed(lambda e=expr: e.condition(History.from_scrape(page, NOW), NOW))
        print(
            f"{text:42s} store+condition {fmt(build_and_judge)} ({len(relevant)} series read)"
            f"  | unfiltered page {fmt(whole_page)} = {whole_page / baseline:5.1f}x baseline"
        )
    text = "".join(f"{s.name}{{{_labels(s.labels)}}} {s.value!r}\n" for s in page).encode()
    expr = compile('queue_depth{queue="default"} < 1000')
    whole = timed(lambda: expr.condition(History.from_scrape(exposition.parse(text), NOW), NOW))
    named = timed(lambda: expr.condition(History.from_scrape(exposition.parse(text, names=expr.names), NOW), NOW))
    print(
        f"check pipeline on the {len(text) // 1024} KiB page: parse(names=expr.names) + store + condition"
        f" {fmt(named)}  | parse everything {fmt(whole)} = {whole / named:4.1f}x"
    )
    wide = compile("family_7_total > 50")
    store = History.from_scrape(page, NOW)
    store.series("family_7_total")
    per = timed(lambda: wide.condition(store, NOW)) / 100
    print(f"per matched series (family_7_total > 50, 100 series)    {fmt(per)}")
    everything = compile('{__name__=~"family_.*"} > 50')
    per_all = timed(lambda: everything.condition(store, NOW), repeat=5) / 9900
    print(f"per matched series (regex name, 9,900 series)           {fmt(per_all)}")

    print("\n== 10-minute history: 1,000 series scraped every second (600 scrapes)")
    history = History(retention=600 + 300)
    series = [("jobs_processed_total", {"worker": f"w{i}"}) for i in range(500)] + [
        ("queue_depth", {"worker": f"w{i}"}) for i in range(500)
    ]
    t0 = NOW - 600
    add = []
    for step in range(600):
        batch = [S(name, float(step * (k % 3)), None, **labels) for k, (name, labels) in enumerate(series)]
        t = time.perf_counter()
        history.add_scrape(batch, t0 + step)
        add.append(time.perf_counter() - t)
    print(
        f"add_scrape of 1,000 series (median of 600)              {fmt(statistics.median(add))}"
        f" = {statistics.median(add) / 1000 * 1e6:.2f} µs/series"
    )
    for text in (
        "increase(jobs_processed_total[2m]) == 0 and queue_depth > 0",
        "sum(rate(jobs_processed_total[5m])) > 1",
        "max_over_time(queue_depth[10m]) < 1000",
        'rate(jobs_processed_total{worker="w7"}[1m]) > 0',
    ):
        expr = compile(text)
        cost = timed(lambda e=expr: e.condition(history, NOW), repeat=7)
        print(f"{text:60s} {fmt(cost)}")


if __name__ == "__main__":
    main()
