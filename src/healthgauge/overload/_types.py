"""Shared vocabulary of the overload core: clocks, criticality, rejection reasons, outcomes.

Nothing here does I/O. Enums are plain ``enum`` classes (the overload package is off ``check``'s
import path, DEVELOPERS.md); the rejection, built on the hot path, is a named tuple.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import NamedTuple

Clock = Callable[[], float]
"""A zero-argument callable returning monotonic seconds (``time.monotonic``, ``FakeClock``)."""


class OverloadConfigError(ValueError):
    """A constructor was given a configuration that cannot work (spec §1.2: ratios out of range,
    ``target ≤ 0``, ``interval ≤ target``...). The message names the parameter and the value."""


ConfigError = OverloadConfigError  # the name before 0.2 (it clashed across the public API); kept as an alias


class Criticality(enum.IntEnum):
    """How much a request matters, after the SRE book ("Handling Overload"): lower levels are shed
    first, and only at saturation (spec §5.2). Ordered, so ``a > b`` means *a outranks b*."""

    SHEDDABLE = 0
    SHEDDABLE_PLUS = 1
    CRITICAL = 2
    CRITICAL_PLUS = 3

    @classmethod
    def parse(cls, text: str) -> Criticality:
        """The level named by ``text`` (case-insensitive, ``-`` or ``_``), e.g. from a request header.

        Raises ``ValueError`` naming the offending text and the accepted names.
        """
        key = text.strip().upper().replace("-", "_")
        try:
            return cls[key]
        except KeyError:
            names = ", ".join(level.name.lower() for level in cls)
            raise ValueError(f"unknown criticality {text!r}: expected one of {names}") from None


class RejectReason(enum.Enum):
    """Why a request was not served (spec §1.2). The value is the word used in metrics and logs."""

    LIMIT = "limit"
    """In-flight limit reached and no wait queue (or monitor mode's would-be rejection)."""
    QUEUE_FULL = "queue_full"
    """The wait queue was full and the arrival did not outrank anyone in it."""
    EXPIRED = "expired"
    """Waited longer than its queue timeout, or sloughed at handler start while overloaded."""
    DEADLINE = "deadline"
    """Its own deadline passed (on arrival, or while it waited): the client has given up."""
    PRIORITY = "priority"
    """Shed for its criticality: evicted by a more critical arrival, or sheddable while overloaded."""
    DRAINING = "draining"
    """The service is shutting down and no longer admits work."""


class RequestOutcome(enum.Enum):
    """How a permit ended; each permit ends exactly once (spec §1.2, after Netflix
    concurrency-limits ``AbstractLimiter``)."""

    SUCCESS = "success"
    """The work was done: one RTT sample, not dropped (5xx application errors included)."""
    DROPPED = "dropped"
    """Timed out or a downstream reported overload: one sample flagged ``dropped``."""
    IGNORED = "ignored"
    """Client disconnected, route bypassed, or never started: no sample at all."""


Outcome = RequestOutcome  # the name before 0.2 (it clashed across the public API); kept as an alias


class Rejection(NamedTuple):
    """A refusal to serve, with what a client needs to behave well.

    ``retry_after`` is a whole number of seconds ≥ 1 for an HTTP ``Retry-After`` header (spec §10.2),
    or ``None`` when a retry is pointless (the deadline already passed: answer 504, no hint).

    A named tuple rather than a frozen dataclass: rejections are the hot path exactly when the
    server is overloaded, and a tuple is built about five times faster.
    """

    reason: RejectReason
    retry_after: int | None
    criticality: Criticality = Criticality.CRITICAL
    at: float = 0.0
    """Clock reading when the decision was made."""


NO_DEADLINE = float("inf")
