"""The agent's share of the process's resources: open files, connections per listener, and a
quiet log when the system runs out of them.

A health agent is the last thing that may fall over. With the common default of 1,024 open files,
1,100 idle connections to the probe port used to exhaust them: every listener (HTTP, HAProxy,
gRPC) stopped accepting and asyncio logged a traceback per failed ``accept()`` (490 MB in 85 s).
So the agent raises its soft limit to the hard one at start, caps each listener's connections
well below what is left after its own needs, sheds the oldest idle connection when a new one
arrives at the cap, and logs accept errors once per :data:`LOG_INTERVAL`.
"""

from __future__ import annotations

import asyncio
import logging
import resource
import time
from collections.abc import Callable
from typing import Any

from healthgauge.http._listen import ACCEPT_BATCH

log = logging.getLogger("healthgauge.agent")

#: Files kept for the agent itself beyond sockets it serves: its scrape connections (counted per
#: target), the state file, log files, the event loop's own descriptors, worker threads' files.
RESERVED_FILES = 128
#: Connections a listener accepts at most, whatever the open-file limit allows: nginx's default
#: ``worker_connections`` is 512-1024 per worker; a probe port sees a kubelet, a few load balancers
#: and Prometheus, and a fleet of HAProxies polls its agent-check port with short connections.
MAX_LISTENER_CONNECTIONS = 4096
#: At most one log line per this many seconds for accept errors (each says how many were dropped).
LOG_INTERVAL = 10.0


def raise_open_files() -> tuple[int, int]:
    """Raise the soft open-file limit to the hard one; return (before, after) and log the change."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = 1 << 20  # what Linux allows at most by default (fs.nr_open)
    if soft != resource.RLIM_INFINITY and soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError) as exc:
            log.warning("cannot raise the open-file limit from %d to %d: %s", soft, hard, exc)
            return soft, soft
        log.info("open-file limit raised from %d to %d", soft, hard)
        return soft, hard
    return soft, soft


def connection_cap(listeners: int, targets: int, *, open_files: int | None = None) -> int:
    """Connections each of ``listeners`` may hold: what the open-file limit leaves after the
    agent's own files, its ``targets``' scrape connections and one accept batch per listener,
    shared equally, at most :data:`MAX_LISTENER_CONNECTIONS` and at least 16."""
    if open_files is None:
        open_files = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        if open_files == resource.RLIM_INFINITY:
            open_files = 1 << 20
    spare = open_files - RESERVED_FILES - 2 * targets - ACCEPT_BATCH * listeners
    return max(16, min(MAX_LISTENER_CONNECTIONS, spare // max(1, listeners)))


class QuietAcceptErrors:
    """A loop exception handler: accept() failures (out of files, out of memory) are logged one
    line per :data:`LOG_INTERVAL` with the count since the last line, never a traceback each;
    anything else goes to the handler that was there before."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic, interval: float = LOG_INTERVAL) -> None:
        self.clock = clock
        self.interval = interval
        self.suppressed = 0
        self.logged = 0
        self._last = -float("inf")
        self._previous: Any = None

    def install(self, loop: asyncio.AbstractEventLoop) -> None:
        self._previous = loop.get_exception_handler()
        loop.set_exception_handler(self)

    def uninstall(self, loop: asyncio.AbstractEventLoop) -> None:
        if loop.get_exception_handler() is self:
            loop.set_exception_handler(self._previous)

    def __call__(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        message = str(context.get("message", ""))
        if "accept" not in message:
            if self._previous is not None:
                self._previous(loop, context)
            else:
                loop.default_exception_handler(context)
            return
        now = self.clock()
        if now - self._last < self.interval:
            self.suppressed += 1
            return
        exc = context.get("exception")
        why = f"{type(exc).__name__}: {exc}" if exc is not None else message
        more = f" ({self.suppressed} more since the last line)" if self.suppressed else ""
        log.error("cannot accept connections: %s%s; retrying (at most one line per %gs)", why, more, self.interval)
        self.logged += 1
        self.suppressed = 0
        self._last = now
