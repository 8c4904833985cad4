"""The broker's own fields on the wire, read and written (spec §7): ``Healthgauge-Timeout`` and
``Healthgauge-Criticality`` of a request, ``Healthgauge-Load`` of an answer, the fields an offer
adds for the worker, and the head of the answer the client gets. Pure: the service passes in what
it knows.
"""

from __future__ import annotations

import math

from healthgauge.broker._registry import WorkerReport, parse_load
from healthgauge.broker._wire import CHUNKED, CLOSE, LENGTH, NONE, Head
from healthgauge.overload._types import Criticality

__all__ = [
    "BROKER_FIELDS",
    "STATUS_CLASSES",
    "answer_framing",
    "load_report",
    "offer_fields",
    "parse_criticality",
    "parse_timeout",
]

# A client's own values of these are replaced by the broker's when the request is offered.
BROKER_FIELDS = frozenset(
    (b"healthgauge-class", b"healthgauge-timeout", b"healthgauge-affinity", b"healthgauge-cost", b"via")
)
# A status code's class as the metrics label it ("2xx"), by ``status // 100``.
STATUS_CLASSES = tuple(f"{n}xx" for n in range(10))
_GRPC_UNITS = {"H": 3600.0, "M": 60.0, "S": 1.0, "m": 1e-3, "u": 1e-6, "n": 1e-9}


def parse_timeout(value: bytes) -> float | None:
    """Seconds from ``Healthgauge-Timeout``: milliseconds (``250``) or a gRPC timeout (``250m``,
    ``2S``), as the overload middleware reads it; None when it is not one."""
    text = value.decode("latin-1").strip()
    scale = 1e-3
    if text and text[-1] in _GRPC_UNITS:
        scale, text = _GRPC_UNITS[text[-1]], text[:-1]
    try:
        amount = float(text)
    except ValueError:
        return None
    return amount * scale if math.isfinite(amount) and amount >= 0 else None


def parse_criticality(level: bytes | None) -> Criticality:
    """``Healthgauge-Criticality``; CRITICAL when absent or not one."""
    if level is not None:
        try:
            return Criticality.parse(level.decode("latin-1"))
        except ValueError:
            pass
    return Criticality.CRITICAL


def load_report(value: bytes | None, cap: int, local: int) -> WorkerReport:
    """A worker's load from its answer's ``Healthgauge-Load``; without one, what this broker has
    there (``local``, this answer's request done)."""
    report = parse_load(value.decode("latin-1"), cap=cap) if value is not None else None
    if report is None:
        local = max(0, local - 1)
        report = _OWN_COUNT.get((local, cap))
        if report is None:
            if len(_OWN_COUNT) >= MAX_OWN_COUNT:
                _OWN_COUNT.clear()
            report = _OWN_COUNT[local, cap] = WorkerReport(n=local, limit=cap, load=100.0 * min(local, cap) / cap)
    return report


# The reports made from this broker's own count (frozen, so shared): most answers carry no
# Healthgauge-Load, and a frozen dataclass costs microseconds to build.
MAX_OWN_COUNT = 4096
_OWN_COUNT: dict[tuple[int, int], WorkerReport] = {}


def offer_fields(
    job_class: str, left_ms: int, given_cost: bytes | None, cost: float | None, key: str | None
) -> list[tuple[bytes, bytes]]:
    """What an offer tells the worker: the class, the time left, the cost and the affinity key."""
    extra = [
        (b"healthgauge-class", job_class.encode()),
        (b"healthgauge-timeout", b"%d" % left_ms),
        (b"via", b"1.1 healthgauge"),
    ]
    if given_cost is not None:
        extra.append((b"healthgauge-cost", given_cost))
    elif cost is not None:
        extra.append((b"healthgauge-cost", b"%g" % cost))
    if key is not None:
        extra.append((b"healthgauge-affinity", key.encode("latin-1", "replace")))
    return extra


def answer_framing(
    request: Head, head: Head, worker: str, wait_ms: float, *, draining: bool
) -> tuple[int, int, list[tuple[bytes, bytes]]]:
    """The framing, length and added fields of the answer to ``request`` from ``worker``'s ``head``."""
    extra = [
        (b"via", b"1.1 healthgauge"),
        (b"healthgauge-worker", worker.encode()),
        (b"server-timing", b"broker-wait;dur=%.1f" % wait_ms),
    ]
    if head.framing == LENGTH:
        framing, length = LENGTH, head.length
    elif head.framing in (CHUNKED, CLOSE):
        framing, length = (CHUNKED, 0) if request.version == b"HTTP/1.1" else (CLOSE, 0)
    elif request.method == b"HEAD" or head.status in (204, 304) or head.status < 200:
        framing, length = NONE, 0
        given = head.fields.get(b"content-length")
        if given is not None:
            extra.append((b"content-length", given))
    else:
        framing, length = LENGTH, 0
    if not request.keep_alive or framing == CLOSE or draining:
        extra.append((b"connection", b"close"))
    return framing, length, extra
