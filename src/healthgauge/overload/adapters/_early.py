"""Refuse before the HTTP stack: the 503 the guard would answer anyway, written straight to the
connection, for a request the server's parser never sees (issue #11).

Why: under overload most arrivals are refused, and a refusal through uvicorn's h11 stack costs
230-242 µs of server CPU (aiohttp 133-216 µs, httptools 57-59 µs) against ~3.2 ms for a served
request: at 4× capacity reading and refusing the excess caps goodput near 77 % of capacity on
h11. What the guard needs to refuse is the method and the path; this module reads just those from
a request head that is simple enough to be sure of, decides with the guard, and renders the same
answer the middleware would send.

:class:`EarlyRefusal` is the server-independent part (pure but for the guard it asks): it answers
only when all of these hold, and otherwise returns ``None`` so that the bytes go to the real
parser unchanged:

- the guard refuses *now whatever the request* (``AdmissionController.refuses``): the controller
  is draining, at its limit with no wait queue, or its limit would shed any request at its start
  (the default ``LoopDelayLimit`` while overloaded, past its slough timeout: at 2-4× capacity on
  uvicorn nearly every refusal is this one), and neither the guard nor the controller is in
  monitor-only mode;
- the bytes are exactly one complete ``GET`` or ``HEAD`` head (``HTTP/1.1``, ending in CRLFCRLF,
  at most :data:`MAX_HEAD` bytes, one ``Host``), with none of the headers that change how it is
  read or answered (``Content-Length``, ``Transfer-Encoding``, ``Connection``, ``Upgrade``,
  ``Expect``) nor any the policy reads (criticality, timeout...: those are classified by the
  middleware), and a plain path (no ``%``-escapes) that is not bypassed nor the metrics page.

The decision is the middleware's own (``OverloadGuard.enter_fast``, its way for a request without
the policy's headers): the controller counts the rejection by reason and criticality exactly as
it would, and ``counters.early_refused`` says
how many of them took this way. The answer is the guard's refusal (``Retry-After``,
``Healthgauge-Overload``, ``Healthgauge-Load``) after the server's own default headers (uvicorn's
``date`` and ``server``), rendered as uvicorn renders it (:func:`render`). The connection stays
open, as it does after the middleware's 503 to an HTTP/1.1 request without ``Connection: close``.
The server wrappers (``_uvicorn.py``) call it only when the connection has no request in flight and
nothing buffered in its parser.
"""

from __future__ import annotations

from collections.abc import Sequence
from http import HTTPStatus

from healthgauge.overload._http import PlainResponse
from healthgauge.overload._types import Outcome
from healthgauge.overload.adapters._guard import Admission, OverloadGuard

__all__ = ["MAX_HEAD", "EarlyRefusal", "render", "simple_head"]

# Largest request head answered here; anything longer goes to the parser. 8 KiB is nginx's
# large_client_header_buffers and aiohttp's max_line_size; a client's plain GET is ~100 bytes.
MAX_HEAD = 8192
_METHODS = {b"GET": "GET", b"HEAD": "HEAD"}
# Headers that change how a request is framed or answered: such a request goes to the parser.
_FRAMING = frozenset({b"content-length", b"transfer-encoding", b"connection", b"upgrade", b"expect"})
_STATUS_LINE = {s.value: b"HTTP/1.1 %d %s\r\n" % (s.value, s.phrase.encode()) for s in HTTPStatus}
Headers = Sequence[tuple[bytes, bytes]]


def simple_head(data: bytes, read: frozenset[bytes] = frozenset()) -> tuple[str, str] | None:
    """``(method, path)`` of ``data`` when it is exactly one complete, plain ``GET``/``HEAD``
    HTTP/1.1 head with one ``Host`` and none of the framing headers nor of ``read`` (lowercase
    names); ``None`` for anything else, which the server's parser is to read instead."""
    end = data.find(b"\r\n\r\n")
    if end < 0 or end != len(data) - 4 or len(data) > MAX_HEAD:
        return None  # partial, pipelined (or a body after it), or too long
    line_end = data.find(b"\r\n")
    method, _, rest = data[:line_end].partition(b" ")
    name = _METHODS.get(method)
    target, _, version = rest.partition(b" ")
    if name is None or version != b"HTTP/1.1" or not target.startswith(b"/"):
        return None
    path = target.partition(b"?")[0]
    if b"%" in path or not path.isascii():
        return None  # the server unquotes it: let it
    hosts = 0
    for line in data[line_end + 2 : end].split(b"\r\n"):
        field, colon, _ = line.partition(b":")
        if not colon or not field or b" " in field or b"\t" in field:
            return None  # malformed, or no headers at all: the parser answers it (400)
        key = field.lower()
        if key in _FRAMING or key in read:
            return None
        hosts += key == b"host"
    if hosts != 1:
        return None  # HTTP/1.1 needs exactly one (RFC 9112 §3.2); h11 answers 400 otherwise
    return name, path.decode("ascii")


def render(response: PlainResponse, defaults: Headers, *, head: bool) -> bytes:
    """The wire bytes of ``response`` as uvicorn writes an ASGI answer: status line, the server's
    default headers, the answer's, a blank line, the body (none for ``HEAD``)."""
    lines = [_STATUS_LINE[response.status]]
    lines += [b"%s: %s\r\n" % pair for pair in defaults]
    lines += [b"%s: %s\r\n" % pair for pair in response.headers]
    lines.append(b"\r\n")
    if not head:
        lines.append(response.body)
    return b"".join(lines)


class EarlyRefusal:
    """The guard's refusal of a simple request, decided before the HTTP parser runs.

    ``guard``: the middleware's; ``metrics_path``: the path the middleware serves its metrics on
    (never refused); ``root_path``: what the server prepends to every request path (uvicorn's
    ``root_path``), so that bypass routes match as the middleware sees them.
    """

    __slots__ = ("_at", "_controller", "_guard", "_last", "_limit", "_read", "metrics_path")

    def __init__(self, guard: OverloadGuard, *, metrics_path: str | None = None) -> None:
        self._guard = guard
        self._controller = guard.controller
        self._limit = guard.controller.limit  # fixed for the controller's life
        self._read = guard.policy.header_keys
        self.metrics_path = metrics_path
        # The last answer rendered, by identity of its inputs (the refusal changes with the load
        # words, at most every 10 ms; uvicorn's default headers with the date, every second).
        self._last: tuple[PlainResponse, Headers, bool, bytes] | None = None
        self._at = 0.0  # the guard clock's reading when the last refusal was decided

    def refusing(self) -> bool:
        """Would the guard refuse any request now (``AdmissionController.refuses``, with the loop
        lag its start would see), outside monitor-only mode? Asked on every chunk a server reads:
        while the controller is neither draining, at its limit nor overloaded, a few attribute
        reads; otherwise one clock reading and the loop probe's current lag."""
        ctl = self._controller
        limit = self._limit
        # (Last: something in flight and no unit free, i.e. at the limit.)
        if not (limit.overloaded or ctl.draining or 0 < ctl.inflight_cost > limit.limit - 1):
            return False
        guard = self._guard
        if guard.monitor_only:
            return False
        now = guard.clock()
        probe = guard.probe
        return ctl.refuses(now, 0.0 if probe is None else probe.current(now))

    def answer(self, data: bytes, defaults: Headers = (), root_path: str = "") -> bytes | None:
        """The bytes to write for ``data`` (one whole request head, nothing in flight on the
        connection) when the guard refuses it; ``None``: hand ``data`` to the server's parser."""
        if not self.refusing():
            return None
        parsed = simple_head(data, self._read)
        if parsed is None:
            return None
        method, path = parsed
        path = root_path + path
        guard = self._guard
        if path == self.metrics_path or guard.policy.bypassed(method, path):
            return None  # the middleware serves or bypasses it (and counts the bypass)
        # The middleware's own way for a request without the policy's headers: the same decision,
        # counted the same way (a refusal at the limit, or admitted and sloughed at its start).
        admitted = guard.enter_fast(method, path)
        if not isinstance(admitted, Admission) or admitted.response is None:  # pragma: no cover
            # refuses() said otherwise (a limit whose sheds_at_start disagrees with on_start):
            # undo an admission and let the parser and the middleware take the request.
            if admitted is None:
                guard.controller.leave("ignored")
            elif isinstance(admitted, Admission):
                guard.complete(admitted.permit, Outcome.IGNORED)
            else:
                admitted.waiter.cancel()
            return None
        guard.counters.early_refused += 1
        self._at = admitted.at
        return self._render(admitted.response, defaults, method == "HEAD")

    def _render(self, response: PlainResponse, defaults: Headers, head: bool) -> bytes:
        last = self._last
        if last is not None and last[0] is response and last[1] is defaults and last[2] is head:
            return last[3]
        wire = render(response, defaults, head=head)
        self._last = (response, defaults, head, wire)
        return wire

    def written(self) -> None:
        """The server wrote the last answer: what it cost from the decision joins the guard's
        refusal cost (``reject_cost``), as the middlewares note theirs once sent."""
        guard = self._guard
        guard.note_reject(guard.clock() - self._at)
