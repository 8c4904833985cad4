"""The broker's own endpoints on its admin listener: ``/metrics``, ``/livez``, ``/readyz``.

Kept off the proxy's port so that no path of the service behind the broker is shadowed. HAProxy
in front checks ``/readyz`` (``option httpchk`` with ``port``) and weighs the brokers through the
agent-check port; Prometheus scrapes ``/metrics``.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, cast

from healthgauge.broker._proxy import simple_response
from healthgauge.broker._wire import WireError, find_head_end, parse_request_head

if TYPE_CHECKING:
    from healthgauge.broker._observed import ObservedService

__all__ = ["AdminConnection"]


class AdminConnection(asyncio.Protocol):
    """One admin client; requests are answered in order, keep-alive."""

    def __init__(self, service: ObservedService) -> None:
        self.service = service
        self.transport: asyncio.Transport | None = None
        self.buf = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast("asyncio.Transport", transport)  # uvloop's are not asyncio.Transport subclasses

    def data_received(self, data: bytes) -> None:
        assert self.transport is not None
        self.buf += data
        while self.buf:
            try:
                end = find_head_end(self.buf)
                if end == -1:
                    return
                head = parse_request_head(self.buf[: end - 4])
            except WireError as exc:
                self.transport.write(simple_response(exc.status, str(exc).encode() + b"\n", [], close=True))
                self.transport.close()
                return
            self.buf = self.buf[end + head.length :]
            close = not head.keep_alive
            self.transport.write(self.answer(head.method, head.target.partition(b"?")[0], close=close))
            if close:
                self.transport.close()
                return

    def answer(self, method: bytes, path: bytes, *, close: bool) -> bytes:
        svc = self.service
        if method not in (b"GET", b"HEAD"):
            return simple_response(405, b"GET only\n", [(b"allow", b"GET, HEAD")], close=close)
        if path == b"/livez":
            return simple_response(200, b"ok\n", [], close=close)
        if path == b"/readyz":
            if svc.ready():
                return simple_response(200, b"ready\n", [], close=close)
            why = b"draining\n" if svc.draining else b"no worker is up\n"
            return simple_response(503, why, [], close=close)
        if path == b"/metrics":
            from healthgauge.broker._metrics import render

            body, content_type = render(svc)
            response = simple_response(200, body, [], close=close)
            return response.replace(b"text/plain; charset=utf-8", content_type.encode(), 1)
        return simple_response(404, b"not found: /metrics, /livez, /readyz\n", [], close=close)
