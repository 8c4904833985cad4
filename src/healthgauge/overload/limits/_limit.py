"""The limit interface every concurrency-limit algorithm implements, and the static limit.

A limit is a number ``L`` plus the rules that move it. The admission controller (``_controller``)
enforces ``floor(L)`` and feeds the limit three kinds of events, each with the time passed in:

- ``on_admission(now, inflight, at_limit)``: every arrival that reaches the limit check, with the
  in-flight count *before* it and whether the check failed (queue-delay AIMD uses this to mark an
  interval saturated, spec §2.4);
- ``on_start(now, delay)``: handler start (the dequeue), with the queueing delay measured from the
  grant of the permit; returning True asks the controller to shed this request (folly-style slough);
- ``on_sample(now, start, rtt, inflight, dropped)``: a completed permit, after Netflix
  concurrency-limits' ``Limit.onSample``. Rejections and ignored permits are never samples (§1.2);
- ``on_loop(now, lag, busy, steps)``: the host's periodic event-loop probe: the lag it measured,
  the seconds the loop spent inside admitted handlers since the last probe and in how many
  synchronous steps (``LoopDelayLimit``);
- ``on_gone(now, completed, gone)``: just before each ``on_loop``, the requests completed since the
  previous probe and how many of them were for clients already gone (``watches_gone()`` says, after
  each probe, whether the adapters should look for those before running a request).

Each hook is a no-op by default, so a limit implements only what its algorithm reads.

``calm_below()`` lets the controller skip the hooks for most requests (issue #11, the per-request
cost): the in-flight count below which, until the next ``on_loop``, an admission (``on_admission``
with ``at_limit`` False) changes nothing but what one call with the interval's largest in-flight
count would, and a start (``on_start``) sheds nothing and changes nothing. The controller then
only counts those requests and reports their peak once per probe. 0 (the default): never.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from healthgauge.overload._types import ConfigError


@dataclass(frozen=True, slots=True, kw_only=True)
class LimitStatistics:
    """A snapshot of one limit: its kind, the current ``L`` and its bounds, how often it moved,
    and the algorithm's own figures (``details``: e.g. ``rtt_noload``, ``long_rtt``, ``win_min``, in
    seconds) for dashboards and the benchmark's trajectory."""

    kind: str
    limit: float
    min_limit: float
    max_limit: float
    increases: int
    decreases: int
    details: Mapping[str, float] = field(default_factory=dict)


class Limit:
    """Base class of the concurrency-limit algorithms; see the module docstring for the hooks.

    ``limit`` is the current ``L`` (fractional internally, enforced as ``floor(L)``). Every subclass
    keeps the invariant ``max(1, min_limit) ≤ L ≤ max_limit`` after each update (spec §1.2).
    """

    __slots__ = ("_decreases", "_increases", "limit", "max_limit", "min_limit")

    kind = "limit"
    # True when ``overloaded`` is this limit's own verdict on the whole server (the controller then
    # trusts it instead of its raw delay window, which cannot tell whose work the delay is).
    judges_overload = False

    def __init__(self, *, initial: float, min_limit: float, max_limit: float) -> None:
        require(min_limit >= 1, f"min_limit must be ≥ 1, got {min_limit!r}")
        require(max_limit >= min_limit, f"max_limit ({max_limit!r}) must be ≥ min_limit ({min_limit!r})")
        require(
            min_limit <= initial <= max_limit,
            f"initial limit {initial!r} must lie in [min_limit, max_limit] = [{min_limit!r}, {max_limit!r}]",
        )
        self.limit = float(initial)
        self.min_limit = float(min_limit)
        self.max_limit = float(max_limit)
        self._increases = 0
        self._decreases = 0

    @property
    def overloaded(self) -> bool:
        """Whether the algorithm currently judges the server overloaded (queue-delay limits only)."""
        return False

    def on_admission(self, now: float, inflight: int, at_limit: bool) -> None:
        """An arrival reached the limit check with ``inflight`` permits out; ``at_limit`` if it failed."""
        return

    def on_start(self, now: float, delay: float) -> bool:
        """A permitted request starts after waiting ``delay`` seconds; True sheds it."""
        return False

    def sheds_at_start(self, now: float, delay: float) -> bool:
        """Would :meth:`on_start` shed a request starting at ``now`` after ``delay``? Asked without
        acting (no state changes), before the arrival's ``on_admission``: the early refusal
        (``adapters/_early.py``) refuses only what admission would refuse anyway. False here: a
        limit that sheds at start says when, or none of its sheds is answered early."""
        return False

    def on_sample(self, now: float, start: float, rtt: float, inflight: int, dropped: bool) -> None:
        """A permit completed: received at ``start``, ``rtt`` seconds long, ``inflight`` at admission."""
        return

    def on_loop(self, now: float, lag: float, busy: float, steps: int, accept_queue: int | None = None) -> None:
        """The loop probe: ``lag`` seconds late; ``busy`` seconds in ``steps`` steps of admitted
        handlers; ``accept_queue`` connections waiting in the kernel to be accepted (``None``:
        unknown)."""
        return

    def on_gone(self, now: float, completed: int, gone: int) -> None:
        """Before each ``on_loop``: since the previous probe ``completed`` requests were completed
        (answered, failed, sloughed or skipped), ``gone`` of them for clients that had already
        gone away (skipped at start, or answered to a closed connection)."""
        return

    def watches_gone(self) -> bool:
        """After each ``on_loop``: whether the adapters should look, until the next probe, for
        requests whose client has gone before running them (a socket peek each: worth it only
        while the loop is late)."""
        return False

    def calm_below(self) -> float:
        """Until the next ``on_loop``, admissions with fewer requests in flight than this need no
        hook but their peak (module docstring). The default, 0, asks for every hook call."""
        return 0.0

    def _set(self, value: float) -> None:
        """Move ``L`` to ``value`` clamped to the bounds, counting the direction."""
        value = min(self.max_limit, max(self.min_limit, value))
        if value > self.limit:
            self._increases += 1
        elif value < self.limit:
            self._decreases += 1
        self.limit = value

    def _details(self) -> dict[str, float]:
        return {}

    def statistics(self) -> LimitStatistics:
        """A snapshot for metrics and tests; cheap enough to take every 100 ms."""
        return LimitStatistics(
            kind=self.kind,
            limit=self.limit,
            min_limit=self.min_limit,
            max_limit=self.max_limit,
            increases=self._increases,
            decreases=self._decreases,
            details=self._details(),
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}(limit={self.limit:.2f})"


class FixedLimit(Limit):
    """A static limit: the baselines of the benchmark (static in-flight 16 / 256), or an unbounded
    pass-through with ``FixedLimit(math.inf)`` for monitor-only roll-outs and "no protection"."""

    __slots__ = ()

    kind = "fixed"

    def __init__(self, limit: float) -> None:
        require(limit >= 1, f"a fixed limit must be ≥ 1, got {limit!r}")
        super().__init__(initial=limit, min_limit=limit, max_limit=limit)

    def calm_below(self) -> float:
        """No hooks: every admission below ``L`` is calm (n + 1 ≤ L)."""
        return math.floor(self.limit) if math.isfinite(self.limit) else self.limit


def require(condition: bool, message: str) -> None:
    """Raise ``ConfigError(message)`` unless ``condition``: constructors validate before any state."""
    if not condition:
        raise ConfigError(message)


def require_ratio(name: str, value: float, low: float, high: float, *, high_open: bool = True) -> None:
    """Validate a ratio parameter against ``[low, high)`` (or ``[low, high]``)."""
    ok = low <= value < high if high_open else low <= value <= high
    bracket = ")" if high_open else "]"
    require(ok and not math.isnan(value), f"{name} must lie in [{low}, {high}{bracket}, got {value!r}")


def clamp(value: float, low: float, high: float) -> float:
    return low if value < low else high if value > high else value
