"""Listening sockets that take a fleet's burst without taking every open file at once (issue #13).

Every listener of the agent (probe HTTP, HAProxy agent-check, admin) and the overload middleware's
agent-check responder starts its asyncio server with ``backlog=ACCEPT_BATCH`` and then calls
:func:`widen_backlog`: asyncio accepts up to its ``backlog`` argument per readiness event, before
serving any of them, and passes the same number to ``listen()``.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterable
from typing import Any

#: Listen backlog: HAProxy fleets open their agent checks in bursts (2,000 servers polled at once
#: overflowed asyncio's default of 100). The kernel clamps it to ``net.core.somaxconn`` (4096 on
#: Linux 5.4+).
BACKLOG = 4096
#: Connections accepted in one go. asyncio accepts up to its ``backlog`` argument per readiness
#: event, before any of them is served: with 4096 a burst of 2,000 took 2,000 files at once and
#: ran the agent out of them. So asyncio is given this, and the kernel's queue is widened to
#: :data:`BACKLOG` afterwards (:func:`widen_backlog`).
ACCEPT_BATCH = 128


def widen_backlog(sockets: Iterable[Any], backlog: int = BACKLOG) -> None:
    """Give listening sockets (asyncio's, started with ``backlog=ACCEPT_BATCH``) a kernel queue of
    ``backlog``: ``listen()`` again on a duplicate of each, which shares the socket."""
    for listening in sockets:
        with socket.socket(fileno=os.dup(listening.fileno())) as dup:
            dup.listen(backlog)
