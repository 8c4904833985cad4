"""The agent's work per scrape, stage by stage, without I/O: where a scrape's CPU goes.

    .venv/bin/python bench/agent_pipeline.py [--targets 200] [--rounds 20]

The same page and rules as bench/agent.py (real parser and evaluator), N targets each with its own
history, warmed with 15 s of scrapes; then every round is one scrape of every target. Prints the
mean time per scrape of each stage the scrape loop runs after the fetch: parse (only the rules'
names), history append, evaluation and judgement, and the hub's state table. bench/agent.py
measures the whole process (fetch, kernel and event loop included) and bench/scrape_client.py the
fetch alone.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import agent as bench_agent  # the page and config of bench/agent.py
from healthgauge.agent._config import parse_config
from healthgauge.agent.judge._judgement import evaluate
from healthgauge.agent.judge._promql_engine import PromEngine
from healthgauge.agent.state._hub import StateHub

CONTENT_TYPE = "text/plain; version=0.0.4"


def page(now: float) -> bytes:
    return bench_agent.PAGE.replace("@TS@", f"{now:.3f}").replace("@JOBS@", str(int(now * 10))).encode()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    engine = PromEngine()
    urls = ", ".join(f'"t{i}" = "http://127.0.0.1:1/metrics/{i}"' for i in range(args.targets))
    targets = parse_config(bench_agent.CONFIG.format(urls=urls), engine).targets
    hub = StateHub({t.name: t.policy for t in targets})
    histories = {t.name: engine.history(t.history) for t in targets}
    names = {t.name: t.names for t in targets}  # what TargetLoop keeps
    stages = dict.fromkeys(("parse", "history", "evaluate", "hub"), 0.0)
    now = time.time()
    clock = time.perf_counter
    for round_ in range(15 + args.rounds):
        now += 1.0
        data = page(now)
        for t in targets:
            history = histories[t.name]
            a = clock()
            samples = engine.parse(data, CONTENT_TYPE, names[t.name], t.sample_limit)
            b = clock()
            history.add_scrape(samples, now)
            c = clock()
            previous = hub.get(t.name)
            verdict = evaluate(t, engine, history, now, previous=previous.conditions if previous else ())
            d = clock()
            hub.observe(t.name, verdict)
            e = clock()
            if round_ >= 15:
                for stage, spent in zip(stages, (b - a, c - b, d - c, e - d), strict=True):
                    stages[stage] += spent
    scrapes = args.targets * args.rounds
    print(f"{args.targets} targets x {args.rounds} scrapes, page of {len(page(now))} bytes")
    for stage, spent in stages.items():
        print(f"{stage:<9} {spent / scrapes * 1e6:6.1f} us per scrape")
    total = sum(stages.values()) / scrapes
    print(f"{'total':<9} {total * 1e6:6.1f} us per scrape   ({total * 1000:.3f} cores for 1,000 targets at 1 s)")


if __name__ == "__main__":
    main()
