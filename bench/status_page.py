"""What one poll of the status page costs the agent, with many targets.

Builds a hub of N targets (5 rules each, full sparkline rings of 60 checks) and times, over many
polls, the two halves of ``/status.json``: the part on the event loop (snapshots, the agent's own
facts) and the part in the worker thread (rendering every target's consumers and encoding the
JSON), and the document's size. The page polls once a second per open browser tab.

    .venv/bin/python bench/status_page.py [--targets N] [--polls N]
"""

from __future__ import annotations

import statistics
import sys
import time

from healthgauge.agent import parse_config
from healthgauge.agent._run import ReloadStatus
from healthgauge.agent.servers._status import AgentFacts, RuleHistory, StatusPage
from healthgauge.agent.state._hub import StateHub
from healthgauge.health._state import Condition, Role, Verdict

RULES = (Role.LIVE, Role.READY, Role.WARN, Role.WEIGHT, Role.MAXCONN)


def build(n: int) -> tuple[StatusPage, RuleHistory]:
    urls = ", ".join(f'"t{i}" = "http://127.0.0.1:{10000 + i}/metrics"' for i in range(n))
    config = parse_config(f'[[targets]]\nurls = {{ {urls} }}\nready = ["up == 1"]\nmaxconn = "7"\n')
    hub = StateHub({t.name: t.policy for t in config.targets})
    history = RuleHistory()
    hub.subscribe(history)
    for check in range(60):
        for i in range(n):
            conditions = tuple(
                Condition(role=role, expr=f"{role.value}_metric > {k}", holds=check % 7 != 0, values=(check + i * 0.5,))
                for k, role in enumerate(RULES)
            )
            verdict = Verdict(at=1e9 + check, live=True, ready=True, weight=90, maxconn=7, conditions=conditions)
            hub.observe(f"t{i}", verdict)
    facts = AgentFacts(
        started_at=1e9,
        addresses={"http": "127.0.0.1:8099"},
        config=lambda: config,
        reloads=ReloadStatus(success_at=1e9),
        scrapes=lambda: (0, 0),
    )
    return StatusPage(hub, facts, history, wall=time.time), history


def main() -> int:
    n = int(sys.argv[sys.argv.index("--targets") + 1]) if "--targets" in sys.argv else 1000
    polls = int(sys.argv[sys.argv.index("--polls") + 1]) if "--polls" in sys.argv else 20
    page, _ = build(n)
    on_loop, in_thread, size = [], [], 0
    for _ in range(polls):
        started = time.perf_counter()
        now, config, states = page.wall(), page.facts.config(), page.hub.states()
        page.history.forget({s.name: s for s in states})
        agent = page._agent(states, now, config)
        middle = time.perf_counter()
        body = page._encode(now, config, states, agent, 1.0)
        ended = time.perf_counter()
        on_loop.append(middle - started)
        in_thread.append(ended - middle)
        size = len(body)
    print(f"{n} targets x {len(RULES)} rules, 60-check sparklines; {polls} polls (a shared machine)")
    print(f"  on the event loop: median {statistics.median(on_loop) * 1000:.2f} ms per poll")
    print(f"  in the worker thread: median {statistics.median(in_thread) * 1000:.1f} ms per poll")
    print(f"  /status.json: {size / 1e6:.2f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
