"""Run ``healthgauge agent`` as its own process for the end-to-end tests.

Uses the production PromQL engine when the package has one, else the tests' `FakeEngine` (whose
rules, ``name OP number`` and bare names, are valid PromQL too), so the consumer protocols are
proven with a real agent process either way: `python tests/support/agent_main.py --config FILE`.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from healthgauge.agent._config import ConfigError
from healthgauge.agent.commands._cmd import main, production_engine
from healthgauge.agent.judge._engine import Engine


def engine() -> Engine:
    """The production engine once the package has both halves (parser and evaluator)."""
    try:
        importlib.import_module("healthgauge.exposition")
        return production_engine()
    except (ConfigError, ImportError):
        from support.fake_engine import FakeEngine

        return FakeEngine()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], engine_factory=engine))
