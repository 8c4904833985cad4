"""uvicorn's HTTP protocols with the guard's early refusal (``_early.py``) in front of the parser.

uvicorn takes a protocol class as ``Config(http=...)`` / ``uvicorn.run(http=...)`` (its public
option; ``"h11"`` and ``"httptools"`` name these same two classes). The subclasses here change one
method, ``data_received``: when the connection has no request in flight and its parser holds
nothing, the chunk goes to :meth:`EarlyRefusal.answer` first; a refusal is written to the transport
and the chunk is never parsed, everything else is handed to uvicorn's own ``data_received``. After a
refusal the connection is left as after any answered request: keep-alive timer armed, the server's
request count (``--limit-max-requests``) incremented, one access-log line if access logging is on.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, Literal

from healthgauge.overload.adapters._early import EarlyRefusal

if TYPE_CHECKING:
    from healthgauge.overload.adapters._asgi import OverloadMiddleware

__all__ = ["early_refusal"]


class _Refusing:
    """What both protocols share: the refusal and what is done once one is written. Mixed into
    uvicorn's classes (their attributes, read here, are public in both: ``transport``, ``loop``,
    ``server_state``, ``client``, ``root_path``, the keep-alive timer and the access log)."""

    refusal: EarlyRefusal
    if TYPE_CHECKING:  # uvicorn's, on both protocols
        transport: asyncio.Transport
        loop: asyncio.AbstractEventLoop
        server_state: Any
        client: tuple[str, int] | None
        access_log: bool
        access_logger: Any
        timeout_keep_alive: float
        timeout_keep_alive_task: asyncio.TimerHandle | None
        root_path: str

        def timeout_keep_alive_handler(self) -> None: ...

    def _answer(self, data: bytes) -> bool:
        """Refuse ``data`` if the guard would: True when it was answered here."""
        wire = self.refusal.answer(data, self.server_state.default_headers, self.root_path)
        if wire is None:
            return False
        if self.timeout_keep_alive_task is not None:
            self.timeout_keep_alive_task.cancel()
        self.transport.write(wire)
        self.refusal.written()
        self.server_state.total_requests += 1
        if self.access_log:  # uvicorn's line and arguments (its AccessFormatter unpacks them)
            method, target, _ = data[: data.find(b"\r\n")].decode("latin-1").split(" ")
            client = f"{self.client[0]}:{self.client[1]}" if self.client else ""
            self.access_logger.info('%s - "%s %s HTTP/%s" %d', client, method, target, "1.1", 503)
        self.timeout_keep_alive_task = self.loop.call_later(self.timeout_keep_alive, self.timeout_keep_alive_handler)
        return True


def _h11_class(refusal: EarlyRefusal) -> type[asyncio.Protocol]:
    import h11
    from uvicorn.protocols.http.h11_impl import H11Protocol

    idle = h11.IDLE

    class H11RefusingProtocol(_Refusing, H11Protocol):  # type: ignore[misc]
        """uvicorn's h11 protocol, refusing before h11 reads a request the guard refuses."""

        def data_received(self, data: bytes) -> None:
            conn = self.conn
            if (
                self.refusal.refusing()
                and conn.their_state is idle
                and conn.our_state is idle
                and not conn.trailing_data[0]
                and self._answer(data)
            ):
                return
            super().data_received(data)

    H11RefusingProtocol.refusal = refusal
    return H11RefusingProtocol


def _httptools_class(refusal: EarlyRefusal) -> type[asyncio.Protocol]:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    class HttpToolsRefusingProtocol(_Refusing, HttpToolsProtocol):  # type: ignore[misc]
        """uvicorn's httptools protocol, refusing before llhttp reads a request the guard refuses.
        llhttp's state is not readable; uvicorn's tells it: ``on_message_begin`` gives each
        request a new ``scope``, ``on_headers_complete`` a new ``cycle`` on it, and
        ``on_message_complete`` ends its ``more_body``. Between a request's first byte and its
        last, one of these is not yet so (overriding the two callbacks instead cost ~1 µs a
        request: llhttp calls them through Python)."""

        def data_received(self, data: bytes) -> None:
            if self.refusal.refusing():
                cycle: Any = self.cycle  # None before the first request (uvicorn types it otherwise)
                scope: Any = self.scope
                if (
                    (scope is None if cycle is None else cycle.scope is scope and cycle.response_complete)
                    and (cycle is None or not cycle.more_body)
                    and not self.pipeline
                    and self._answer(data)
                ):
                    return
            super().data_received(data)

    HttpToolsRefusingProtocol.refusal = refusal
    return HttpToolsRefusingProtocol


def early_refusal(
    middleware: OverloadMiddleware, http: Literal["h11", "httptools"] = "httptools"
) -> type[asyncio.Protocol]:
    """A uvicorn HTTP protocol class that answers the requests ``middleware``'s guard refuses
    before uvicorn parses them: pass it as ``uvicorn.run(app, http=early_refusal(app, "h11"))``
    (or ``uvicorn.Config(http=...)``), with ``middleware`` the outermost ASGI app.

    ``http``: which of uvicorn's protocols to wrap (``"httptools"`` needs httptools installed).
    What is refused this way, and what is left to the parser: ``healthgauge.overload.adapters._early``.
    """
    refusal = EarlyRefusal(middleware.guard, metrics_path=middleware.metrics_path)
    if http == "h11":
        return _h11_class(refusal)
    if http == "httptools":
        return _httptools_class(refusal)
    raise ValueError(f"early_refusal: http must be 'h11' or 'httptools', got {http!r}")
