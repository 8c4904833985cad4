"""uvicorn's HTTP protocols with the guard's early refusal (``_early.py``) in front of the parser.

uvicorn takes a protocol class as ``Config(http=...)`` / ``uvicorn.run(http=...)`` (its public
option; ``"h11"`` and ``"httptools"`` name these same two classes). The subclasses here change one
method, ``data_received``: when the connection has no request in flight and its parser holds
nothing, the chunk goes to :meth:`EarlyRefusal.answer` first; a refusal is written to the transport
and the chunk is never parsed, everything else is handed to uvicorn's own ``data_received``. After a
refusal the connection is left as after any answered request: keep-alive timer armed, the server's
request count (``--limit-max-requests``) incremented, one access-log line if access logging is on.

Two ways to them: :func:`early_refusal` (``http=``: every connection from its first refusal on)
and :class:`ConnectionSwitch`, the default middleware's (no option: a connection the middleware
refused becomes one, from its next request on).
"""

from __future__ import annotations

import asyncio
import sys
from typing import TYPE_CHECKING, Any, Literal, Protocol

from healthgauge.overload.adapters._early import EarlyRefusal
from healthgauge.overload.adapters._guard import OverloadGuard

__all__ = ["ConnectionSwitch", "early_refusal"]


class Guarded(Protocol):
    """What the early refusal reads of the middleware (``OverloadMiddleware``, which imports this
    module: named by its shape, so neither module imports the other back)."""

    guard: OverloadGuard
    metrics_path: str | None


class _Refusing:
    """What both protocols share: the refusal and what is done once one is written. Mixed into
    uvicorn's classes (their attributes, read here, are public in both: ``transport``, ``loop``,
    ``server_state``, ``client``, ``root_path``, the keep-alive timer and the access log).
    It comes after uvicorn's class among the subclasses' bases: CPython lets a uvicorn protocol
    object's ``__class__`` become such a subclass (``ConnectionSwitch``) only when the first base
    is uvicorn's (with this mixin first: "object layout differs")."""

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


def _h11_class(refusal: EarlyRefusal | None) -> type[asyncio.Protocol]:
    import h11
    from uvicorn.protocols.http.h11_impl import H11Protocol

    idle = h11.IDLE

    class H11RefusingProtocol(H11Protocol, _Refusing):  # type: ignore[misc]
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

    if refusal is not None:  # else each connection switched to it gets its own (ConnectionSwitch)
        H11RefusingProtocol.refusal = refusal
    return H11RefusingProtocol


def _httptools_class(refusal: EarlyRefusal | None) -> type[asyncio.Protocol]:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    class HttpToolsRefusingProtocol(HttpToolsProtocol, _Refusing):  # type: ignore[misc]
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

    if refusal is not None:
        HttpToolsRefusingProtocol.refusal = refusal
    return HttpToolsRefusingProtocol


def early_refusal(middleware: Guarded, http: Literal["h11", "httptools"] = "httptools") -> type[asyncio.Protocol]:
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


# uvicorn's modules holding the protocols that can be switched, and each one's class factory.
_FACTORIES = {
    "uvicorn.protocols.http.h11_impl": ("H11Protocol", _h11_class),
    "uvicorn.protocols.http.httptools_impl": ("HttpToolsProtocol", _httptools_class),
}
_PROXY_HEADERS = "uvicorn.middleware.proxy_headers"
# Exact protocol class -> its refusing subclass (None: not one of uvicorn's two, left alone). Shared
# by every middleware of the process: the subclass reads the refusal from the connection.
_SWITCHED: dict[type, type | None] = {}


def _refusing_class(cls: type) -> type | None:
    """The refusing subclass of ``cls`` when ``cls`` is exactly uvicorn's h11 or httptools
    protocol (never a subclass of it: someone else's data_received), made once per class."""
    try:
        return _SWITCHED[cls]
    except KeyError:
        pass
    found = _FACTORIES.get(cls.__module__)
    module = sys.modules.get(cls.__module__)
    switched = None
    if found is not None and module is not None and getattr(module, found[0], None) is cls:
        switched = found[1](None)
    _SWITCHED[cls] = switched
    return switched


class ConnectionSwitch:
    """The default middleware's early refusal, with no option to set: after the middleware refused
    a request on one of uvicorn's connections, that connection's protocol object becomes its
    refusing subclass (``proto.__class__ = ...``, the subclasses ``early_refusal`` builds), so that
    its later requests are refused before uvicorn parses them while the guard refuses any request,
    and parsed as before otherwise.

    Why: a refusal through uvicorn's h11 parser costs the server 213-256 µs of CPU, about what a
    trivial answer costs; at 4× capacity with a 3-ms handler three refusals per success ate ~20 % of
    the CPU. Clients under overload keep their connections and send again: the connections that
    were refused once carry most of the refused traffic. A request nobody refuses pays nothing.

    How the connection is found: uvicorn's ASGI ``send`` is a bound method of the request's
    ``RequestResponseCycle``, whose ``on_response`` is the bound ``on_response_complete`` of the
    connection's protocol (uvicorn 0.55's h11_impl and httptools_impl). It is switched only when
    all of these hold, so that nothing changes but where the middleware's refusal is written:

    - the protocol is exactly uvicorn's ``H11Protocol`` or ``HttpToolsProtocol`` (a subclass may
      have its own ``data_received``; another server's objects are never touched);
    - the middleware is the app uvicorn runs (alone or inside uvicorn's own proxy-headers
      wrapper, which passes ``send`` through), and ``scope`` is the one uvicorn made for the
      request: an outer middleware that changes the path, wraps ``send`` or answers some requests
      itself would see requests that this refusal does not.
    """

    __slots__ = ("_middleware", "_refusal")

    def __init__(self, middleware: Guarded) -> None:
        self._middleware = middleware
        self._refusal: EarlyRefusal | None = None  # made at the first switch

    def __call__(self, scope: object, send: object) -> bool:
        """Switch the connection ``send`` answers on (the middleware just refused its request).
        True when it was switched; False when it is not one this can switch, or already is."""
        cycle = getattr(send, "__self__", None)
        proto = getattr(getattr(cycle, "on_response", None), "__self__", None)
        if proto is None or getattr(cycle, "scope", None) is not scope:
            return False
        switched = _refusing_class(type(proto))
        if switched is None or not self._runs_us(proto):
            return False
        refusal = self._refusal
        if refusal is None:
            mw = self._middleware
            refusal = self._refusal = EarlyRefusal(mw.guard, metrics_path=mw.metrics_path)
        try:
            proto.refusal = refusal
            proto.__class__ = switched
        except (AttributeError, TypeError):
            # A uvicorn whose protocol took slots or another layout: its connections stay as
            # they are (the refusal was written already), and this class is not tried again.
            _SWITCHED[type(proto)] = None
            return False
        return True

    def _runs_us(self, proto: Any) -> bool:
        """Is the middleware the app ``proto`` runs, but for uvicorn's proxy-headers wrapper?"""
        app = getattr(proto, "app", None)
        proxy = sys.modules.get(_PROXY_HEADERS)
        while proxy is not None and type(app) is getattr(proxy, "ProxyHeadersMiddleware", None):
            app = app.app  # type: ignore[union-attr]
        return app is self._middleware
