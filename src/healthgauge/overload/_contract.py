"""The contract between the asyncio adapters and a sans-I/O admission controller (spec §1.2, §3, §5).

The adapters (middlewares, broker adapter) never decide anything: they hand each request to an
:class:`AdmissionCore` as a :class:`Ticket` and act on the state the core leaves it in. The core
never waits, sleeps or starts tasks; time is passed in. A core:

* ``acquire(ticket, now)`` — leaves the ticket ``GRANTED`` (a permit), ``REJECTED`` (with
  ``reason`` and ``retry_after``) or ``WAITING`` (queued);
* decides waiting tickets later, on ``complete`` (a freed slot goes to the next waiter) and on
  ``expire`` (active expiry, spec §3 rule 3), and reports every ticket it decided through
  ``settled()`` so the adapter can wake its waiter;
* ``cancel(ticket, now)`` — a waiter gave up (client disconnected): remove it, release nothing;
* ``begin(ticket, now, delay)`` — the handler is about to start after ``delay`` seconds of
  queueing (healthgauge's queue + loop lag + upstream queue time); the core feeds its detector
  and may shed the request here (folly-style slough): it then leaves the ticket ``REJECTED``;
* ``complete(ticket, outcome, now)`` — exactly once per granted ticket, as ``SUCCESS``,
  ``DROPPED`` or ``IGNORED``; a rejection is never a sample;
* ``load(now)`` (0-100, spec §10.1), ``limit`` and ``in_flight`` for the load balancer.

``State`` transitions: NEW → GRANTED | REJECTED | WAITING; WAITING → GRANTED | REJECTED |
CANCELLED; GRANTED → REJECTED (shed at begin) | DONE.
"""

from __future__ import annotations

import enum
from typing import Any, Protocol

__all__ = ["AdmissionCore", "DownstreamOverloaded", "Outcome", "State", "Ticket"]


class Outcome(enum.Enum):
    """How a permit ends (after Netflix/concurrency-limits ``AbstractLimiter``)."""

    SUCCESS = "success"
    DROPPED = "dropped"
    IGNORED = "ignored"


class State(enum.Enum):
    NEW = "new"
    WAITING = "waiting"
    GRANTED = "granted"
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    DONE = "done"


class Ticket:
    """One request's passage through admission; the core writes ``state`` and the verdict fields.

    ``priority`` is an int (a :class:`~healthgauge.overload.Criticality`, higher is more important);
    ``receipt`` and ``deadline`` are on the core's clock. ``waiter`` belongs to the adapter.
    """

    __slots__ = (
        "deadline",
        "enqueued",
        "granted",
        "in_flight_at_grant",
        "priority",
        "reason",
        "receipt",
        "retry_after",
        "state",
        "waiter",
    )

    def __init__(self, *, priority: int, receipt: float, deadline: float) -> None:
        self.priority = priority
        self.receipt = receipt
        self.deadline = deadline
        self.state = State.NEW
        self.reason = ""
        self.retry_after = 0.0
        self.enqueued = 0.0
        self.granted = 0.0
        self.in_flight_at_grant = 0
        self.waiter: Any = None

    def __repr__(self) -> str:
        return f"Ticket({self.state.value}, priority={self.priority}, reason={self.reason!r})"


class AdmissionCore(Protocol):
    """A sans-I/O admission controller, as the adapters drive it (see the module docstring)."""

    @property
    def limit(self) -> int: ...

    @property
    def in_flight(self) -> int: ...

    def acquire(self, ticket: Ticket, now: float) -> None: ...

    def cancel(self, ticket: Ticket, now: float) -> None: ...

    def begin(self, ticket: Ticket, now: float, delay: float) -> None: ...

    def complete(self, ticket: Ticket, outcome: Outcome, now: float) -> None: ...

    def expire(self, now: float) -> None: ...

    def settled(self) -> list[Ticket]: ...

    def load(self, now: float) -> float: ...

    def queue_length(self) -> int: ...

    def oldest_age(self, now: float) -> float: ...


class DownstreamOverloaded(Exception):
    """Raise from a handler when a downstream call answered "overloaded" and this request cannot be
    served: the permit completes as ``dropped`` and, if nothing was sent yet, the caller gets a 503
    (``no_retry=True`` once the retries against that downstream are exhausted, spec §6.2, §10.3)."""

    def __init__(self, message: str = "downstream overloaded", *, no_retry: bool = True) -> None:
        super().__init__(message)
        self.no_retry = no_retry
