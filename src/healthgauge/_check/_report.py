"""What one run of ``healthgauge check`` found, for its line, ``--verbose`` and ``--json``."""

from __future__ import annotations

# Exit codes and their words, defined once for every command (health/_status.py).
from healthgauge.health._status import CHECK_NAMES as STATUS_NAMES
from healthgauge.health._status import FAIL, LABELS, UNKNOWN
from healthgauge.promql import Outcome

TYPE_CHECKING = False
if TYPE_CHECKING:
    from healthgauge.health import Judgement
    from healthgauge.promql import Expr, History

__all__ = ["FAIL", "FUTURE_BOUND", "LABELS", "STATUS_NAMES", "UNKNOWN", "Condition", "Report"]

# A freshness timestamp further ahead of our clock than this fails (--check-fresh): hosts kept by
# NTP agree within a second, so a minute ahead is a wrong clock or a timestamp in another unit
# (microseconds read as milliseconds land centuries ahead).
FUTURE_BOUND = 60


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


class Report:
    """The run's status, the error that ended it (if one did), the judgement and each condition."""

    __slots__ = ("details", "error", "error_kind", "judgement", "pairs", "status", "url")

    def __init__(self, url: str = "") -> None:
        self.url = url
        self.status = FAIL
        self.error = ""
        self.error_kind = ""
        self.judgement: Judgement | None = None
        self.pairs: list[tuple[Condition, Outcome]] = []
        self.details: list[str] = []

    def failed(self, status: int, kind: str, message: str) -> Report:
        """This run ends without judging: UNKNOWN (``kind`` usage) or FAIL (the page was not read)."""
        self.status, self.error_kind, self.error = status, kind, message
        return self

    @property
    def line(self) -> str:
        reason = self.judgement.reason if self.judgement is not None else self.error
        return f"{LABELS[self.status]} - {reason}"
