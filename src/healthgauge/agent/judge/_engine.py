"""What the agent needs from the exposition parser and the PromQL evaluator, as one seam.

The agent never parses or evaluates by itself: it hands bytes and compiled expressions to an
:class:`Engine`. The production engine binds :mod:`healthgauge.exposition` and
:mod:`healthgauge.promql`; tests may hand in their own to drive the agent through exact states.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any, Protocol

# One condition evaluated at one instant: the evaluator's own value type, whatever the engine.
from healthgauge.promql import Outcome as Outcome


class EngineError(Exception):
    """An expression is invalid or a page could not be parsed; ``str()`` says what and where."""


class Expr(Protocol):
    """A compiled PromQL expression."""

    @property
    def names(self) -> Collection[str] | None:
        """The metric names it reads (``None``: it may read any name)."""

    @property
    def max_range(self) -> float:
        """Seconds of history its range selectors and functions need (0 for instant ones)."""


class History(Protocol):
    """Per-series samples of one target, bounded in time."""

    def add_scrape(self, samples: Any, now: float) -> None:
        """Record one successful scrape's samples (as :meth:`Engine.parse` returned them)."""

    def add_failed_scrape(self, now: float) -> None:
        """Record a failed scrape: every series goes stale, as Prometheus marks them."""

    def __len__(self) -> int:
        """Series held now (the agent caps it: ``series_limit``)."""


class Engine(Protocol):
    """Parse, keep and evaluate: the one dependency of the scrape loop on the rule language."""

    def compile(self, text: str) -> Expr:
        """Compile one expression or raise :class:`EngineError` naming the offending text."""

    def parse(
        self,
        data: bytes | bytearray,
        content_type: str | None,
        names: Collection[str] | None,
        limit: int,
        dropped: list[Any] | None = None,
    ) -> Any:
        """Samples of one page, only those named in ``names`` when given, at most ``limit`` of
        them (more is an error, as Prometheus's ``sample_limit``); raise :class:`EngineError`.
        A sample of a series already in the page is dropped, as Prometheus drops it, and said in
        ``dropped`` (one item each) when given."""

    def history(self, keep: float) -> History:
        """A new, empty history keeping ``keep`` seconds."""

    def condition(self, expr: Expr, history: History, now: float) -> Outcome:
        """Whether a condition holds at ``now`` (wall seconds), and what it saw."""

    def number(self, expr: Expr, history: History, now: float) -> Outcome:
        """A numeric expression at ``now``: ``values[0]``'s value is the number when ``holds``."""
