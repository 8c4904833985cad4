"""One deadline over a whole ``healthgauge check``: connect, read, gzip decoding, parsing, evaluation.

The fetch bounds its own waiting (``healthgauge.http.fetch``); the work after it is CPU, in code that
does not look at a clock: a legitimate 16 MB page of 200k series takes 1.5 s to decode, parse and
judge here. So the command arms an interval timer (SIGALRM) at the deadline, and its handler stops
whatever runs when it rings: during the fetch it raises ``TimeoutError``, which the fetch turns into
its own "deadline passed (read body)" words; afterwards ``OutOfTime``, a ``BaseException`` so that
no ``except Exception`` in the evaluator can mistake it for a failed condition.

Only the main thread can take signals: elsewhere (a test calling ``main`` from a thread) ``arm``
does nothing and the fetch's own deadline is the only one. A timer or handler already set (pytest-
timeout uses SIGALRM) is put back as it was by ``disarm``.
"""

import _signal  # type: ignore[import-not-found]  # built in; `signal` would import enum (~1 ms)
from time import monotonic

TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import FrameType

    Saved = tuple[object, float, float]


class OutOfTime(BaseException):
    """The deadline passed after the fetch (parsing or evaluating)."""


#: After the fetch the timer rings again this often until ``disarm``: an exception raised where
#: Python cannot pass it on (a gc callback, a ``__del__``, a weakref callback) is reported as
#: unraisable and lost, and the check would run on past its deadline.
RING_AGAIN = 0.05

# Whether the fetch is running: then the timer's handler raises TimeoutError, which it words.
fetching = True
# Whether the timer has rung (a ring swallowed during the fetch is found by ``fetched``).
rang = False


def _ring(signum: int, frame: "FrameType | None") -> None:
    global rang
    rang = True
    if fetching:  # the fetch's own socket deadlines back this one up
        raise TimeoutError("deadline passed")
    _signal.setitimer(_signal.ITIMER_REAL, RING_AGAIN)  # in case this one is swallowed
    raise OutOfTime


def fetched() -> None:
    """The fetch is over: from now on the timer raises ``OutOfTime``, at once if it rang already."""
    global fetching
    fetching = False
    if rang:
        raise OutOfTime


def arm(deadline: float) -> "Saved | None":
    """Set the timer to ring at ``deadline`` (monotonic seconds); what was set before, or None."""
    global fetching, rang
    fetching, rang = True, False
    try:
        previous = _signal.signal(_signal.SIGALRM, _ring)
    except ValueError:  # not the main thread
        return None
    delay, interval = _signal.setitimer(_signal.ITIMER_REAL, max(deadline - monotonic(), 1e-6))
    return previous, monotonic() + float(delay) if delay else 0.0, float(interval)


def disarm(saved: "Saved | None") -> None:
    """Stop the timer and put back the handler and timer that were set before ``arm``."""
    if saved is None:
        return
    _signal.setitimer(_signal.ITIMER_REAL, 0)
    previous, due, interval = saved
    _signal.signal(_signal.SIGALRM, previous)
    if due:
        _signal.setitimer(_signal.ITIMER_REAL, max(due - monotonic(), 1e-6), interval)
