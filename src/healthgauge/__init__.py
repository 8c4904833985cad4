"""healthgauge: health as a spectrum.

Turns the Prometheus metrics a service already exposes into the answers its orchestrator and load
balancers need (restart or not, send traffic or not, how much), and helps Python services measure
their own overload and shed load before they collapse.

The public API lives in subpackages, each with a small ``__init__``:

- ``healthgauge.exposition``: the Prometheus text / OpenMetrics parser;
- ``healthgauge.promql``: PromQL conditions evaluated over a scrape or a short history;
- ``healthgauge.health``: judgement of condition results, HAProxy agent-check words;
- ``healthgauge.agent``: the agent, to run or embed (its config, state hub and levels);
- ``healthgauge.overload``: overload detection, adaptive limits, load shedding and middleware;
- ``healthgauge.broker``: Spillway-style dispatch of jobs to workers that report their load;
- ``healthgauge.testing``: a fake clock and page builders, for our tests and yours.

Importing this package imports nothing else: ``healthgauge check`` pays for every module it loads.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
