"""A manual clock for the pure core: detectors, limiters, hysteresis and schedulers take time as an
argument or an injected zero-argument clock, so tests and simulations advance it by hand."""

from __future__ import annotations


class FakeClock:
    """A monotonic clock that moves only when told to.

    Call it (``clock()``) wherever a ``Callable[[], float]`` clock is expected.
    """

    __slots__ = ("_now",)

    def __init__(self, start: float = 0.0) -> None:
        self._now = float(start)

    def __call__(self) -> float:
        return self._now

    @property
    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> float:
        """Move forward by ``seconds`` (never backward) and return the new time."""
        if seconds < 0:
            raise ValueError(f"a monotonic clock cannot go back: advance({seconds!r})")
        self._now += seconds
        return self._now

    def set(self, when: float) -> float:
        """Jump to ``when``, which must not be earlier than now."""
        if when < self._now:
            raise ValueError(f"a monotonic clock cannot go back: set({when!r}) at {self._now!r}")
        self._now = float(when)
        return self._now
