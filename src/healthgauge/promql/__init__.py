"""PromQL conditions evaluated as Prometheus 2.42 would, over one scrape or a short history.

    expr = compile('queue_depth{queue="default"} < 1000')      # once, at configuration load
    outcome = expr.condition(History.from_scrape(samples, now), now)
    outcome.holds, outcome.summary                              # True, "got 12"

The agent keeps one ``History`` per target and calls ``add_scrape(samples, now)`` after each
successful scrape, ``add_failed_scrape(now)`` after each failed one. The longest
``Expr.max_range`` of its rules sizes the retention (each series' latest sample is kept for the
5-minute lookback anyway).

On the check path: nothing slow is imported here (no ``re``, ``typing``, ``dataclasses``,
``enum``, ``json``); ``re`` loads only when a regex matcher compiles.
"""

from healthgauge import _lazy
from healthgauge.promql._errors import EvaluationError, PromQLError
from healthgauge.promql._expr import Expr, Outcome, compile, needs_history
from healthgauge.promql._history import LOOKBACK_MS, History

TYPE_CHECKING = False
if TYPE_CHECKING:
    from healthgauge.promql._result import Result

LOOKBACK = LOOKBACK_MS / 1000

__all__ = [
    "LOOKBACK",
    "EvaluationError",
    "Expr",
    "History",
    "Outcome",
    "PromQLError",
    "Result",
    "compile",
    "needs_history",
]

# ``Result`` loads on first use: ``healthgauge check`` judges conditions and never needs it.
__getattr__ = _lazy(__name__, {"Result": "healthgauge.promql._result"})
