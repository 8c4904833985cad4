"""The drain sequence on SIGTERM (spec §10.1, HG):

1. switch the agent to ``drain`` at once;
2. keep serving new and in-flight requests for the grace period (default ``2 × agent-inter + 1 s``,
   5 s: HAProxy sees the drain through two agent checks before the listener goes away);
3. hand the signal to the server's own handler (uvicorn, aiohttp), which stops accepting and
   finishes in-flight work;
4. exit. The responder answers ``drain`` until it is closed at the very end.

The whole sequence fits Kubernetes' default ``terminationGracePeriodSeconds`` of 30 s: if the
server is still finishing work ``deadline`` seconds (25) after the first SIGTERM, it is told to
stop at once (as a second signal would), and the log says so. A second SIGTERM, or a SIGINT,
while draining also stops at once: the operator insists. (healthgauge ≤ 0.x waited
``2 × agent-inter + max_timeout``, 304 s by default, far past the 30 s after which every pod
ends in SIGKILL.)

Servers install their own SIGTERM handler that stops accepting at once. :class:`DrainOnSignal`
takes the signal first and re-raises it, to the handler it displaced, after the grace period.
"Stop at once" re-raises it followed by SIGINT, which uvicorn and aiohttp treat as "exit now".

Handing back uses public means only. A handler set with ``signal.signal`` (uvicorn's) is read with
``signal.getsignal`` and put back. A handler the *loop* holds (``loop.add_signal_handler``:
aiohttp's ``run_app``, the broker, the agent) cannot be read back through any public API, and
uvloop keeps no table that asyncio's private one would mirror (reading asyncio's table left every
uvloop service unable to exit). For those, ``on_shutdown`` is the server's own shutdown (aiohttp:
``GracefulExit``; a service: ``stop.set``), called when the signal is handed on; without it the
signal is handed to the operating system's default action (the process ends), and the log says so
at install time.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable
from typing import Any

__all__ = ["DrainOnSignal"]

log = logging.getLogger("healthgauge.overload")


# Kubernetes' default terminationGracePeriodSeconds is 30 s; keep 5 s for the server's own exit.
DEFAULT_DEADLINE = 25.0


class DrainOnSignal:
    """Delay a server's shutdown on ``signum`` by ``grace`` seconds, calling ``on_drain`` first and
    ``on_forward`` (e.g. reject new arrivals with ``draining``) when the signal is handed on; stop
    at once at ``deadline`` seconds after the first signal, or on a second SIGTERM or a SIGINT."""

    def __init__(
        self,
        *,
        grace: float,
        on_drain: Callable[[], None],
        on_forward: Callable[[], None] | None = None,
        signum: int = signal.SIGTERM,
        deadline: float | None = None,
        stop_signal: int = signal.SIGINT,
        on_shutdown: Callable[[], None] | None = None,
    ) -> None:
        if grace < 0:
            raise ValueError(f"DrainOnSignal: grace must be ≥ 0 s, got {grace}")
        deadline = max(DEFAULT_DEADLINE, grace) if deadline is None else deadline
        if deadline < grace:
            raise ValueError(f"DrainOnSignal: deadline ({deadline} s) must be ≥ grace ({grace} s)")
        self.grace = grace
        self.deadline = deadline
        self.stop_signal = stop_signal
        self.on_drain = on_drain
        self.on_forward = on_forward
        self.on_shutdown = on_shutdown
        self.signum = signum
        self.draining = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._prev: dict[int, tuple[Any, bool]] = {}  # signum → (signal.getsignal, the loop held it)
        self._timer: asyncio.TimerHandle | None = None
        self._hard: asyncio.TimerHandle | None = None
        self.forwarded = False

    def install(self) -> None:
        """Take ``signum`` on the running loop (main thread only; idempotent)."""
        if self._loop is not None:
            return
        loop = asyncio.get_running_loop()
        self._take(loop, self.signum, self._fired)
        self._loop = loop

    def _take(self, loop: asyncio.AbstractEventLoop, signum: int, handler: Callable[[], None]) -> None:
        prev = signal.getsignal(signum)
        held = _loop_holds(loop, prev)
        if held and signum == self.signum and self.on_shutdown is None:
            log.warning(
                "signal %d: the event loop holds the server's handler, which cannot be handed back;"
                " after the drain the process ends by the signal's default action (pass on_shutdown)",
                signum,
            )
        self._prev[signum] = (prev, held)
        loop.add_signal_handler(signum, handler)

    def uninstall(self) -> None:
        """Give the signal back to the displaced handler without forwarding anything."""
        for timer in (self._timer, self._hard):
            if timer is not None:
                timer.cancel()
        self._timer = self._hard = None
        if self._loop is not None:
            self._restore()
            self._loop = None

    def _fired(self) -> None:
        assert self._loop is not None
        if self.draining:
            log.warning("second signal %d while draining: stopping now", self.signum)
            self._stop_now()
            return
        self.draining = True
        log.warning(
            "signal %d: draining for %.1f s before shutdown; stopping at once after %.1f s or on a second"
            " SIGTERM or a SIGINT",
            self.signum,
            self.grace,
            self.deadline,
        )
        try:
            self.on_drain()
        finally:
            self._timer = self._loop.call_later(self.grace, self._forward)
            self._hard = self._loop.call_later(self.deadline, self._deadline)
            if self.signum != self.stop_signal:
                try:
                    self._take(self._loop, self.stop_signal, self._interrupted)
                except (RuntimeError, ValueError):
                    pass

    def _interrupted(self) -> None:
        log.warning("signal %d while draining: stopping now", self.stop_signal)
        self._stop_now()

    def _deadline(self) -> None:
        self._hard = None
        log.warning("drain deadline of %.1f s reached with work still in flight: stopping now", self.deadline)
        self._stop_now()

    def _stop_now(self) -> None:
        """Forward the signal if not yet done, then ``stop_signal`` (SIGINT): uvicorn and aiohttp
        take a signal during their own shutdown as "exit now"."""
        loop = asyncio.get_running_loop() if self._loop is None else self._loop
        if self._hard is not None:
            self._hard.cancel()
            self._hard = None
        if not self.forwarded:
            self._forward()
        loop.call_soon(signal.raise_signal, self.stop_signal)

    def _restore(self) -> bool:
        """Give every signal taken back to the handler it displaced; True if ``signum``'s was the
        loop's (it cannot be put back: the caller hands on through ``on_shutdown`` instead)."""
        assert self._loop is not None
        lost = False
        for signum, (prev, held) in self._prev.items():
            self._loop.remove_signal_handler(signum)
            if held:
                lost = lost or signum == self.signum
                signal.signal(signum, signal.default_int_handler if signum == signal.SIGINT else signal.SIG_DFL)
            elif prev is not None:
                signal.signal(signum, prev)
        self._prev.clear()
        return lost

    def _forward(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._loop is None:
            return
        lost = self._restore()
        self._loop = None
        self.forwarded = True
        if self.on_forward is not None:
            self.on_forward()
        if lost and self.on_shutdown is not None:
            self.on_shutdown()
        else:
            signal.raise_signal(self.signum)


def _loop_holds(loop: asyncio.AbstractEventLoop, handler: Any) -> bool:
    """Whether ``handler`` (from ``signal.getsignal``) is an event loop's dispatcher, i.e. the
    real handler was registered with ``loop.add_signal_handler``: asyncio's Unix loops install
    ``_sighandler_noop``, uvloop a method of the loop."""
    return getattr(handler, "__self__", None) is loop or getattr(handler, "__name__", "") == "_sighandler_noop"
