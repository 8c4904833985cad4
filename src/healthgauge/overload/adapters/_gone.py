"""Whether a request's client has gone before its handler runs (issue #11: work for no one).

An open loop past its capacity keeps requests waiting in the event loop longer than their clients
wait for them: each client gives up at its deadline and closes the connection, and the loop then
runs the handler anyway and writes the answer to a closed socket. The server finds out only later:
asyncio runs the request's task (created when the request was parsed) before the callback that
reads the connection's end-of-file in the same iteration, so uvicorn's ``cycle.disconnected`` and
aiohttp's closing transport are set after the handler ran. The kernel knows already: a closed
connection has its end-of-file (or a reset) waiting unread in the socket, which a non-blocking
``recv(MSG_PEEK)`` reads without consuming anything (pipelined bytes are seen as data, not an end).
Both servers close a connection whose client sent its end-of-file (their protocols'
``eof_received`` keeps nothing open), so an answer written after it is never read: skipping the
handler loses nothing. The peek is a system call: the adapters make it only while the loop is late
(``AdmissionController.watch_gone``).

On uvloop the socket is not reachable this way (its transports hide it): nothing is skipped there,
where an open loop's excess waits in the kernel's accept queue anyway (``_backlog``).
"""

from __future__ import annotations

import socket
from typing import Any

__all__ = ["UVICORN_CYCLES", "cycle_gone", "drop_cycle", "transport_gone"]

_PEEK = socket.MSG_PEEK | socket.MSG_DONTWAIT
# uvicorn's request cycles (h11 and httptools alike; 0.55 read): ``send`` is a method of one, which
# keeps ``response_started``, ``disconnected`` (set by the protocol's ``connection_lost``) and the
# connection's ``transport`` (also read by the ASGI middleware's unwatched calm path).
UVICORN_CYCLES = frozenset({"uvicorn.protocols.http.h11_impl", "uvicorn.protocols.http.httptools_impl"})


def transport_gone(transport: Any) -> bool:
    """The peer of ``transport`` has closed the connection: the transport is closing (or gone:
    ``None``), or its socket holds an end-of-file or a reset. False when that cannot be read (a
    transport without a reachable socket) or the connection may still be open."""
    if transport is None or transport.is_closing():
        return True
    sock = getattr(transport.get_extra_info("socket"), "_sock", None)  # asyncio's TransportSocket wraps it
    if sock is None:
        return False
    try:
        return not sock.recv(1, _PEEK)
    except (BlockingIOError, InterruptedError):
        return False  # nothing to read: the client still waits
    except ConnectionError:
        return True  # reset by the peer
    except OSError:
        return False


def cycle_gone(send: Any) -> Any:
    """uvicorn's request cycle that ``send`` is a method of, when its client has gone
    (:func:`transport_gone`, or uvicorn knows already); else None (also for other servers)."""
    cycle: Any = getattr(send, "__self__", None)
    if type(cycle).__module__ not in UVICORN_CYCLES:
        return None
    if cycle.disconnected is True or transport_gone(getattr(cycle, "transport", None)):
        return cycle
    return None


def drop_cycle(cycle: Any) -> None:
    """Leave a request whose client has gone unanswered on uvicorn: mark its cycle
    ``disconnected`` (what uvicorn's ``connection_lost`` sets; its ``run_asgi`` then writes no 500
    for an app that returned without answering) and close the connection (what uvicorn does once
    it reads the end-of-file)."""
    cycle.disconnected = True
    transport = getattr(cycle, "transport", None)
    if transport is not None:
        transport.close()
