"""How a handler's run ends, for the limiter: the one exception → outcome ladder of the middleware
adapters (ASGI and aiohttp write nothing of it themselves).

=================================  ===========  ==============================================
the handler                        outcome      then
=================================  ===========  ==============================================
returned (any status)              ``SUCCESS``  its answer stands
ran past the request's deadline    ``DROPPED``  a 503 ``deadline`` answers, unless it had answered
raised ``DownstreamOverloaded``    ``DROPPED``  a 503 ``downstream`` answers, unless it had
was cancelled                      ``IGNORED``  the cancellation goes on
raised anything else               ``SUCCESS``  status 500; the exception goes on (a handler's
                                                bug is not overload: no sample of load lost)
=================================  ===========  ==============================================

A ``SUCCESS`` whose client went away before the answer counts as ``IGNORED`` (:func:`settled`):
its latency says nothing about this service's load.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, NamedTuple

from healthgauge.overload._http import DownstreamOverloaded, Response, rejection_response
from healthgauge.overload._types import Outcome

if TYPE_CHECKING:
    from healthgauge.overload.adapters._guard import OverloadGuard

__all__ = ["Ending", "ending", "settled"]


class Ending(NamedTuple):
    """How one run ended: the permit's ``outcome``, the answer's ``status`` (``None``: none was
    sent), the ``response`` to send in the handler's place (``None``: none), and whether the
    handler's exception must go on (``reraise``)."""

    outcome: Outcome
    status: int | None
    response: Response | None = None
    reraise: bool = False


def ending(exc: BaseException | None, status: int | None, guard: OverloadGuard) -> Ending:
    """The ladder (see the module's table). ``status``: what the handler answered so far."""
    if exc is None:
        return Ending(Outcome.SUCCESS, status)
    if isinstance(exc, TimeoutError):
        late = None if status is not None else rejection_response("deadline", retry_after=0, no_retry=True)
        return Ending(Outcome.DROPPED, status, late)
    if isinstance(exc, DownstreamOverloaded):
        return Ending(Outcome.DROPPED, status, None if status is not None else guard.downstream_response(exc.no_retry))
    if isinstance(exc, asyncio.CancelledError):
        return Ending(Outcome.IGNORED, status, reraise=True)
    return Ending(Outcome.SUCCESS, status or 500, reraise=True)


def settled(outcome: Outcome, *, disconnected: bool) -> Outcome:
    """A success the client did not wait for is no sample of this service's latency."""
    return Outcome.IGNORED if disconnected and outcome is Outcome.SUCCESS else outcome
