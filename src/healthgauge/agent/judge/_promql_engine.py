"""The production engine: :mod:`healthgauge.exposition` parses, :mod:`healthgauge.promql` keeps the
history and evaluates. Only errors are translated at this boundary; outcomes are the evaluator's own."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from healthgauge.agent.judge import _engine
from healthgauge.agent.judge._engine import EngineError
from healthgauge.exposition import Sample
from healthgauge.exposition._capped import PageRefused, parse_capped, parse_in_child
from healthgauge.promql import EvaluationError, Expr, History, Outcome, PromQLError, compile

# A store needs some retention even when no rule reads a range: the latest scrape must stay.
MIN_RETENTION = 1.0


class PromEngine:
    # What the agent runs in a child process for a big page (agent/_children.py): parse() as a
    # module-level function of a module that imports only the exposition parser.
    child_parse = staticmethod(parse_in_child)

    def compile(self, text: str) -> Expr:
        try:
            return compile(text)
        except PromQLError as exc:
            raise EngineError(str(exc)) from exc

    def parse(
        self,
        data: bytes | bytearray,
        content_type: str | None,
        names: Collection[str] | None,
        limit: int,
        dropped: list[Any] | None = None,
    ) -> list[Sample]:
        # Strict, as exposition.parse, with the target's sample_limit as the parser's series cap:
        # the parse stops there instead of building every sample first.
        try:
            return parse_capped(data, content_type, names, limit, dropped)
        except PageRefused as exc:
            raise EngineError(str(exc)) from None

    def history(self, keep: float) -> History:
        return History(retention=max(keep, MIN_RETENTION))

    def condition(self, expr: _engine.Expr, history: _engine.History, now: float) -> Outcome:
        # Only this engine's own compile() and history() produce what it is handed back.
        assert isinstance(expr, Expr)
        assert isinstance(history, History)
        return expr.condition(history, now)

    def number(self, expr: _engine.Expr, history: _engine.History, now: float) -> Outcome:
        assert isinstance(expr, Expr)
        assert isinstance(history, History)
        try:
            value = expr.number(history, now)
        except EvaluationError as exc:
            return Outcome(False, str(exc), (), str(exc))
        return Outcome(True, f"got {value:g}", (({}, value),))


def promql_engine() -> PromEngine:
    """The production engine: :mod:`healthgauge.exposition` parses, :mod:`healthgauge.promql`
    keeps the history and evaluates. What ``Agent(config)`` and ``load_config(path)`` use when no
    engine is given; pass it explicitly to share one between them."""
    return PromEngine()
