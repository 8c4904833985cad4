"""A tiny in-test engine for the agent's own tests: `name OP number` conditions, bare names or
numbers as numeric expressions, and pages of `name value` lines. It lets the agent's tests drive
exact states without depending on the real PromQL evaluator's details."""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field

from healthgauge.agent.judge._engine import EngineError
from healthgauge.promql import Outcome

OPS: dict[str, Callable[[float, float], bool]] = {
    "==": operator.eq,
    "!=": operator.ne,
    ">=": operator.ge,
    "<=": operator.le,
    ">": operator.gt,
    "<": operator.lt,
}
_EXPR = re.compile(r"\s*([A-Za-z_:][A-Za-z0-9_:]*)(\[(\d+)([sm])\])?\s*(?:(==|!=|>=|<=|>|<)\s*(-?[\d.]+))?\s*")
_NUMBER = re.compile(r"\s*-?\d+(\.\d+)?\s*")


@dataclass(frozen=True)
class FakeExpr:
    text: str
    name: str | None
    op: str | None = None
    threshold: float = 0.0
    max_range: float = 0.0

    @property
    def names(self) -> Collection[str] | None:
        return None if self.name == "*" else frozenset() if self.name is None else frozenset({self.name})


def FakeOutcome(holds: bool, summary: str = "", values: Sequence[float] = ()) -> Outcome:
    """The evaluator's one outcome type, with values that carry no labels."""
    return Outcome(holds, summary, tuple([({}, value) for value in values]))


@dataclass
class FakeHistory:
    keep: float
    latest: dict[str, float] = field(default_factory=dict)
    appended: list[float] = field(default_factory=list)
    failures: list[float] = field(default_factory=list)

    def add_scrape(self, samples: object, now: float) -> None:
        assert isinstance(samples, dict)
        self.latest = dict(samples)
        self.appended.append(now)

    def add_failed_scrape(self, now: float) -> None:
        self.latest = {}
        self.failures.append(now)

    def __len__(self) -> int:
        return len(self.latest)


class FakeEngine:
    def __init__(self) -> None:
        self.parsed: list[Collection[str] | None] = []

    def compile(self, text: str) -> FakeExpr:
        if _NUMBER.fullmatch(text):
            return FakeExpr(text=text, name=None, threshold=float(text))
        match = _EXPR.fullmatch(text)
        if match is None:
            raise EngineError(f"unexpected end of input at column {len(text) + 1}")
        name, _, amount, unit, op, threshold = match.groups()
        max_range = float(amount) * (60 if unit == "m" else 1) if amount else 0.0
        return FakeExpr(text=text, name=name, op=op, threshold=float(threshold or 0), max_range=max_range)

    def parse(
        self,
        data: bytes | bytearray,
        content_type: str | None,
        names: Collection[str] | None,
        limit: int = 50_000,
        dropped: list[object] | None = None,
    ) -> object:
        self.parsed.append(names)
        samples: dict[str, float] = {}
        for number, line in enumerate(data.decode().splitlines(), 1):
            if not line.strip() or line.startswith("#"):
                continue
            parts = line.split()
            if len(parts) != 2:
                raise EngineError(f"line {number}: expected 'name value', got {line!r}")
            if names is None or parts[0] in names:
                samples[parts[0]] = float(parts[1])
                if len(samples) > limit:
                    raise EngineError(f"sample_limit: more than {limit} samples of the metrics the rules read")
        return samples

    def history(self, keep: float) -> FakeHistory:
        return FakeHistory(keep)

    def condition(self, expr: FakeExpr, history: FakeHistory, now: float) -> Outcome:  # type: ignore[override]
        if expr.name is None:
            return FakeOutcome(expr.threshold != 0, f"got {expr.threshold:g}", (expr.threshold,))
        if expr.name not in history.latest:
            return FakeOutcome(False, f"no series matched {expr.name}")
        value = history.latest[expr.name]
        holds = OPS[expr.op](value, expr.threshold) if expr.op else True
        return FakeOutcome(holds, f"got {value:g}", (value,) if holds or expr.op else ())

    def number(self, expr: FakeExpr, history: FakeHistory, now: float) -> Outcome:
        if expr.name is None:
            return FakeOutcome(True, f"got {expr.threshold:g}", (expr.threshold,))
        value = history.latest.get(expr.name, math.nan)
        if math.isnan(value):
            return FakeOutcome(False, f"no series matched {expr.name}")
        return FakeOutcome(True, f"got {value:g}", (value,))
