"""The one exception → outcome ladder both middleware adapters run (overload/_ending.py)."""

from __future__ import annotations

import asyncio

import pytest

from healthgauge.overload import DownstreamOverloaded, OverloadGuard, RequestOutcome
from healthgauge.overload.adapters._ending import ending, settled


@pytest.fixture
def guard() -> OverloadGuard:
    return OverloadGuard()


@pytest.mark.parametrize(
    ("exc", "status", "outcome", "end_status", "answers", "reraise"),
    [
        (None, 200, RequestOutcome.SUCCESS, 200, None, False),
        (None, 503, RequestOutcome.SUCCESS, 503, None, False),
        (TimeoutError(), None, RequestOutcome.DROPPED, None, 504, False),  # the deadline passed
        (TimeoutError(), 200, RequestOutcome.DROPPED, 200, None, False),  # it had answered: nothing more
        (DownstreamOverloaded(), None, RequestOutcome.DROPPED, None, 503, False),
        (asyncio.CancelledError(), None, RequestOutcome.IGNORED, None, None, True),
        (RuntimeError("bug"), None, RequestOutcome.SUCCESS, 500, None, True),
        (RuntimeError("bug"), 201, RequestOutcome.SUCCESS, 201, None, True),
    ],
)
def test_the_ladder(
    guard: OverloadGuard,
    exc: BaseException | None,
    status: int | None,
    outcome: RequestOutcome,
    end_status: int | None,
    answers: int | None,
    reraise: bool,
) -> None:
    end = ending(exc, status, guard)
    assert (end.outcome, end.status, end.reraise) == (outcome, end_status, reraise)
    assert (end.response.status if end.response is not None else None) == answers


def test_a_downstream_refusal_is_counted_once_and_says_no_retry(guard: OverloadGuard) -> None:
    end = ending(DownstreamOverloaded(no_retry=True), None, guard)
    assert end.response is not None
    assert (b"healthgauge-overload", b"no-retry") in [(k.lower(), v) for k, v in end.response.headers]
    assert guard.counters.downstream_overloaded == 1


def test_a_success_the_client_left_is_no_sample() -> None:
    assert settled(RequestOutcome.SUCCESS, disconnected=True) is RequestOutcome.IGNORED
    assert settled(RequestOutcome.SUCCESS, disconnected=False) is RequestOutcome.SUCCESS
    assert settled(RequestOutcome.DROPPED, disconnected=True) is RequestOutcome.DROPPED
