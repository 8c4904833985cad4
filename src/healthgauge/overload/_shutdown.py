"""The drain sequence on SIGTERM (spec §10.1, HG):

1. switch the agent to ``drain`` at once;
2. keep serving new and in-flight requests for the grace period (``2 × agent-inter + max deadline``),
   so HAProxy sees the drain before the listener goes away;
3. hand the signal to the server's own handler (uvicorn, aiohttp), which stops accepting and
   finishes in-flight work;
4. exit. The responder answers ``drain`` until it is closed at the very end.

Servers install their own SIGTERM handler that stops accepting at once. :class:`DrainOnSignal`
takes the signal first and re-raises it, to the handler it displaced, after the grace period.
A second signal during the grace period is forwarded at once: the operator insists.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable
from typing import Any

__all__ = ["DrainOnSignal"]

log = logging.getLogger("healthgauge.overload")


class DrainOnSignal:
    """Delay a server's shutdown on ``signum`` by ``grace`` seconds, calling ``on_drain`` first and
    ``on_forward`` (e.g. reject new arrivals with ``draining``) when the signal is handed on."""

    def __init__(
        self,
        *,
        grace: float,
        on_drain: Callable[[], None],
        on_forward: Callable[[], None] | None = None,
        signum: int = signal.SIGTERM,
    ) -> None:
        if grace < 0:
            raise ValueError(f"DrainOnSignal: grace must be ≥ 0 s, got {grace}")
        self.grace = grace
        self.on_drain = on_drain
        self.on_forward = on_forward
        self.signum = signum
        self.draining = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._prev_py: Any = None
        self._prev_loop: asyncio.Handle | None = None
        self._timer: asyncio.TimerHandle | None = None

    def install(self) -> None:
        """Take ``signum`` on the running loop (main thread only; idempotent)."""
        if self._loop is not None:
            return
        loop = asyncio.get_running_loop()
        self._prev_py = signal.getsignal(self.signum)
        # A handler registered with loop.add_signal_handler (aiohttp's run_app) lives in the loop,
        # not in the signal module; asyncio's Unix loop keeps it in this private table.
        self._prev_loop = getattr(loop, "_signal_handlers", {}).get(self.signum)
        loop.add_signal_handler(self.signum, self._fired)
        self._loop = loop

    def uninstall(self) -> None:
        """Give the signal back to the displaced handler without forwarding anything."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._loop is not None:
            self._restore()
            self._loop = None

    def _fired(self) -> None:
        assert self._loop is not None
        if self.draining:
            log.warning("second signal %d while draining: shutting down now", self.signum)
            self._forward()
            return
        self.draining = True
        log.warning("signal %d: draining for %.1f s before shutdown", self.signum, self.grace)
        try:
            self.on_drain()
        finally:
            self._timer = self._loop.call_later(self.grace, self._forward)

    def _restore(self) -> None:
        assert self._loop is not None
        self._loop.remove_signal_handler(self.signum)
        prev = self._prev_loop
        if prev is not None and not prev.cancelled():
            callback: Any = getattr(prev, "_callback", None)
            if callback is not None:
                self._loop.add_signal_handler(self.signum, callback, *getattr(prev, "_args", ()))
                return
        if self._prev_py is not None:
            signal.signal(self.signum, self._prev_py)

    def _forward(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._loop is None:
            return
        self._restore()
        self._loop = None
        if self.on_forward is not None:
            self.on_forward()
        signal.raise_signal(self.signum)
