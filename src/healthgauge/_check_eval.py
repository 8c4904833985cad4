"""The half of ``healthgauge check`` that needs the parser and the evaluator: the conditions as
check judges them, the page read for the names they need, and their outcomes.

``healthgauge._cmd_check`` imports this after it has sent its request, so loading the parser and
the evaluator (most of a check's code) overlaps with the endpoint gathering its metrics.
"""

from __future__ import annotations

from healthgauge._cmd_check import FUTURE_BOUND
from healthgauge.exposition import ParseError, parse
from healthgauge.promql import History, Outcome

TYPE_CHECKING = False
if TYPE_CHECKING:
    from healthgauge.exposition import Sample
    from healthgauge.promql import Expr


class Condition:
    """One condition as check judges it: ``expr`` must return something (PromQL's alerting rule
    semantics). For the drop-in flags, which demand it of every series, ``violations`` names the
    series that break it and must return nothing."""

    __slots__ = ("expr", "text", "violations", "warn")

    def __init__(self, text: str, expr: Expr, violations: Expr | None = None, *, warn: bool = False) -> None:
        self.text = text
        self.expr = expr
        self.violations = violations
        self.warn = warn

    def outcome(self, store: History, now: float) -> Outcome:
        if self.violations is not None:
            bad = self.violations.condition(store, now)
            if bad.holds or bad.error:  # a violation found, or no way to tell: fail closed
                return Outcome(False, _violations(bad.summary, bad.values), bad.values, bad.error)
        return self.expr.condition(store, now)


def _violations(summary: str, values: tuple[tuple[dict[str, str], float], ...]) -> str:
    """The evaluator's summary of the series that break a drop-in condition, naming the series when
    there is one (the evaluator names them when there are several) and explaining a negative age."""
    if len(values) == 1:
        labels = ", ".join(f'{k}="{v}"' for k, v in sorted(values[0][0].items()) if k != "__name__")
        summary = f"{summary} {{{labels}}}" if labels else summary
    if any(value < -FUTURE_BOUND for _, value in values):
        summary += f" (a negative age is a timestamp in the future; over {FUTURE_BOUND} s ahead fails)"
    return summary


def names_read(checks: list[Condition]) -> frozenset[str] | None:
    """The metric names any condition reads; None (parse everything) if one reads by regex."""
    names: set[str] = set()
    for check in checks:
        for expr in (check.expr, check.violations):
            if expr is not None:
                if expr.names is None:
                    return None
                names |= expr.names
    return frozenset(names)


def read_page(
    body: bytes | bytearray, content_type: str | None, names: frozenset[str] | None
) -> tuple[list[Sample], str]:
    """The samples of the names the conditions read, or the reason the page is not valid exposition."""
    try:
        return parse(body, content_type=content_type, names=names), ""
    except ParseError as exc:
        return [], str(exc)


def outcomes(
    checks: list[Condition], samples: list[Sample], scraped: float, now: float
) -> list[tuple[Condition, Outcome]]:
    """Each condition's outcome over one scrape taken at ``scraped``, evaluated at ``now`` (seconds)."""
    store = History.from_scrape(samples, scraped)
    return [(check, check.outcome(store, now)) for check in checks]
