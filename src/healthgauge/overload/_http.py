"""What a request tells the shedder, and what the shedder answers: pure HTTP mapping (spec §9, §10.2-10.3).

Both middlewares (ASGI and aiohttp) classify a request with :func:`classify` and answer a rejection
with :func:`rejection_response`, so their semantics cannot drift apart. Nothing here does I/O or
reads a clock: receipt time and wall time are arguments.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from healthgauge.overload._types import Criticality

__all__ = [
    "Classified",
    "DownstreamOverloaded",
    "HeaderError",
    "RequestPolicy",
    "Response",
    "classify",
    "parse_attempt",
    "parse_cost",
    "parse_criticality",
    "parse_request_start",
    "parse_timeout",
    "rejection_response",
]


class HeaderError(ValueError):
    """A request header that healthgauge reads is malformed: which header, its text, and why.

    The request is never failed for it: the middleware falls back to the configured default and
    counts the error (a malformed hint must not turn into an outage).
    """

    def __init__(self, header: str, value: str, reason: str) -> None:
        super().__init__(f"header {header}: {value[:64]!r}: {reason}")
        self.header = header
        self.value = value
        self.reason = reason


# A header value longer than this is not parsed at all: every value we read is a short token.
MAX_HEADER_VALUE = 64

_CRITICALITY_NAMES = {c.name.replace("_", "").lower(): c for c in Criticality}
_SEEN: dict[str, Criticality] = {}


def parse_criticality(value: str, *, header: str = "criticality") -> Criticality:
    """``CRITICAL_PLUS``, ``critical-plus`` and ``CriticalPlus`` all name the same level."""
    level = _SEEN.get(value)
    if level is not None:
        return level
    key = value.strip().replace("_", "").replace("-", "").lower()
    level = _CRITICALITY_NAMES.get(key) if len(value) <= MAX_HEADER_VALUE else None
    if level is None:
        names = ", ".join(c.name for c in Criticality)
        raise HeaderError(header, value, f"not a criticality (one of {names})")
    if len(_SEEN) < 64:  # the spellings a fleet actually sends; bounded against junk
        _SEEN[value] = level
    return level


# gRPC's timeout units (PROTOCOL-HTTP2.md, "Timeout"): hours to nanoseconds.
_GRPC_UNITS = {"H": 3600.0, "M": 60.0, "S": 1.0, "m": 1e-3, "u": 1e-6, "n": 1e-9}


def parse_timeout(value: str, *, header: str = "timeout") -> float:
    """Seconds from a timeout header: plain milliseconds (``250``, ``12.5``, as Envoy's
    ``x-envoy-expected-rq-timeout-ms``) or a gRPC timeout (``250m``, ``2S``, ``100000u``)."""
    text = value.strip()
    if not text or len(text) > MAX_HEADER_VALUE:
        raise HeaderError(header, value, "empty or too long for a timeout")
    scale = 1e-3
    if text[-1] in _GRPC_UNITS:
        scale, text = _GRPC_UNITS[text[-1]], text[:-1]
    try:
        amount = float(text)
    except ValueError:
        raise HeaderError(header, value, "not a number of milliseconds or a gRPC timeout like 250m") from None
    if not math.isfinite(amount) or amount < 0:
        raise HeaderError(header, value, "a timeout must be a finite number ≥ 0")
    return amount * scale


def parse_request_start(value: str, *, header: str = "x-request-start") -> float:
    """Wall-clock seconds since the epoch from ``X-Request-Start`` as proxies send it:
    ``t=1700000000.123`` (nginx ``${msec}``), or integer milli- or microseconds (Heroku, HAProxy
    ``%Ts%ms`` style). The unit is told by magnitude, as New Relic's agents and
    django-request-queue-timeout do."""
    text = value.strip()
    if text.startswith("t="):
        text = text[2:]
    try:
        stamp = float(text) if len(text) <= MAX_HEADER_VALUE else math.nan
    except ValueError:
        stamp = math.nan
    if not math.isfinite(stamp) or stamp <= 0:
        raise HeaderError(header, value, "not a time like t=1700000000.123")
    if stamp > 1e14:  # microseconds: 1e14 µs is 1973, 1e14 s is far future
        return stamp / 1e6
    if stamp > 1e11:  # milliseconds
        return stamp / 1e3
    return stamp


def parse_attempt(value: str, *, header: str = "attempt") -> int:
    """The attempt index, 0 for an original request, ≥ 1 for a retry."""
    text = value.strip()
    if not (text.isascii() and text.isdigit()) or len(text) > 6:
        raise HeaderError(header, value, "not an attempt number ≥ 0")
    return int(text)


# A cost beyond this is a typo or an attack, not a request: refuse to read it (falls back to 1).
MAX_COST = 1e6


def parse_cost(value: str, *, header: str = "healthgauge-cost") -> float:
    """A request's cost against the concurrency limit: a positive finite number (``1``, ``2.5``);
    the broker sends it (``Healthgauge-Cost``), default 1."""
    text = value.strip()
    try:
        cost = float(text) if 0 < len(text) <= MAX_HEADER_VALUE else math.nan
    except ValueError:
        cost = math.nan
    if not (0 < cost <= MAX_COST):
        raise HeaderError(header, value, f"not a cost: a number > 0 and ≤ {MAX_COST:g}, like 1 or 2.5")
    return cost


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestPolicy:
    """How a middleware reads a request. Header names are case-insensitive; ``None`` disables one.

    Defaults: health, readiness and metrics routes bypass the shedder (spec §5.2 rule 1: the
    Envoy docs put health checks before the adaptive filter, Netflix has a bypass predicate);
    a request with no criticality header is ``CRITICAL`` (spec §9); a request with no timeout
    header gets ``default_timeout``. ``request_start_header`` is off by default because only a
    trusted proxy may set it: a client could otherwise inflate the queueing delay it reports.
    """

    bypass_prefixes: Sequence[str] = ("/metrics", "/health", "/healthz", "/livez", "/readyz")
    bypass_methods: Sequence[str] = ()
    bypass: Callable[[str, str], bool] | None = None
    criticality_header: str | None = "healthgauge-criticality"
    default_criticality: Criticality = Criticality.CRITICAL
    timeout_header: str | None = "healthgauge-timeout"
    default_timeout: float = 5.0
    # No request waits or runs against a deadline further out than this, whatever its header says.
    max_timeout: float = 300.0
    request_start_header: str | None = None
    # Upstream queue time beyond this is clock skew, not queueing: clamp it (one minute).
    max_upstream_wait: float = 60.0
    attempt_header: str | None = "healthgauge-attempt"
    cost_header: str | None = "healthgauge-cost"
    # Compiled at construction (decide once, not per request): exact paths and "prefix/" starts.
    _exact: frozenset[str] = field(init=False, repr=False, compare=False)
    _starts: tuple[str, ...] = field(init=False, repr=False, compare=False)
    _methods: frozenset[str] = field(init=False, repr=False, compare=False)
    # The (lowercase, latin-1) header names this policy reads: an adapter scans the headers once.
    header_keys: frozenset[bytes] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not (self.default_timeout > 0 and self.max_timeout >= self.default_timeout):
            raise ValueError(
                f"RequestPolicy: need 0 < default_timeout ≤ max_timeout, got {self.default_timeout}, {self.max_timeout}"
            )
        if not self.max_upstream_wait >= 0:
            raise ValueError(f"RequestPolicy: max_upstream_wait must be ≥ 0, got {self.max_upstream_wait}")
        for name in ("criticality_header", "timeout_header", "request_start_header", "attempt_header", "cost_header"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, value.lower())
        # "/metrics" matches "/metrics" and "/metrics/x" but not "/metricsfoo"; "/" matches all.
        bare = [p.rstrip("/") for p in self.bypass_prefixes]
        object.__setattr__(self, "_exact", frozenset(bare))
        object.__setattr__(self, "_starts", tuple(b + "/" for b in bare))
        object.__setattr__(self, "_methods", frozenset(m.upper() for m in self.bypass_methods))
        names = (self.criticality_header, self.timeout_header, self.request_start_header, self.attempt_header)
        keys = frozenset(n.encode("latin-1") for n in (*names, self.cost_header) if n is not None)
        object.__setattr__(self, "header_keys", keys)

    def bypassed(self, method: str, path: str) -> bool:
        """True for routes that never touch the limiter (health, metrics, the agent)."""
        if path in self._exact or path.startswith(self._starts) or method in self._methods:
            return True
        return self.bypass is not None and self.bypass(method, path)


@dataclass(slots=True, kw_only=True)
class Classified:
    """A request as the shedder sees it. Times are on the caller's monotonic clock. (Not frozen:
    built once per request, and a frozen dataclass's constructor costs a ``__setattr__`` per field.)

    ``receipt`` is when the middleware first saw the request minus the upstream queue time a
    trusted proxy reported; ``deadline`` is when its caller gives up; ``errors`` lists the
    malformed headers that fell back to defaults.
    """

    criticality: Criticality
    receipt: float
    deadline: float
    upstream_wait: float
    is_retry: bool
    cost: float = 1.0
    errors: tuple[HeaderError, ...] = ()


def classify(get: Callable[[str], str | None], *, policy: RequestPolicy, now: float, wall_now: float) -> Classified:
    """Read criticality, deadline, request start, attempt and cost through ``get(lowercase_name)``.

    ``now`` is the monotonic receipt time, ``wall_now`` the wall clock at the same instant (only
    ``X-Request-Start`` needs it, because proxies stamp wall time).
    """
    errors: list[HeaderError] = []
    criticality = policy.default_criticality
    if policy.criticality_header is not None and (raw := get(policy.criticality_header)) is not None:
        try:
            criticality = parse_criticality(raw, header=policy.criticality_header)
        except HeaderError as exc:
            errors.append(exc)
    upstream = 0.0
    if policy.request_start_header is not None and (raw := get(policy.request_start_header)) is not None:
        try:
            started = parse_request_start(raw, header=policy.request_start_header)
            upstream = min(policy.max_upstream_wait, max(0.0, wall_now - started))
        except HeaderError as exc:
            errors.append(exc)
    timeout = policy.default_timeout
    if policy.timeout_header is not None and (raw := get(policy.timeout_header)) is not None:
        try:
            timeout = min(policy.max_timeout, parse_timeout(raw, header=policy.timeout_header))
        except HeaderError as exc:
            errors.append(exc)
    retry = False
    if policy.attempt_header is not None and (raw := get(policy.attempt_header)) is not None:
        try:
            retry = parse_attempt(raw, header=policy.attempt_header) >= 1
        except HeaderError as exc:
            errors.append(exc)
    cost = 1.0
    if policy.cost_header is not None and (raw := get(policy.cost_header)) is not None:
        try:
            cost = parse_cost(raw, header=policy.cost_header)
        except HeaderError as exc:
            errors.append(exc)
    receipt = now - upstream
    return Classified(
        criticality=criticality,
        receipt=receipt,
        # The caller's clock started when the proxy received the request, so the deadline does too.
        deadline=receipt + timeout,
        upstream_wait=upstream,
        is_retry=retry,
        cost=cost,
        errors=tuple(errors),
    )


@dataclass(frozen=True, slots=True)
class PlainResponse:
    """A complete small HTTP answer: status, headers as lowercase ASCII pairs, body."""

    status: int
    headers: tuple[tuple[bytes, bytes], ...]
    body: bytes


Response = PlainResponse  # the name before 0.2 (it clashed across the public API); kept as an alias


# Reasons answered 504: the caller has already given up, so a retry hint would only add load.
DEADLINE_REASONS = frozenset({"deadline"})
OVERLOAD_HEADER = b"healthgauge-overload"
_BODIES = {503: b"overloaded\n", 504: b"deadline exceeded\n"}
_CACHE: dict[tuple[int, int, bool], Response] = {}


def rejection_response(reason: str, *, retry_after: int | None, no_retry: bool) -> Response:
    """503 + ``Retry-After`` + ``Healthgauge-Overload: shed|no-retry`` for an overload rejection;
    504 with the marker and no retry hint when the deadline had passed (spec §10.2-10.3).
    ``retry_after`` is the controller's hint in whole seconds (``None``: 1).

    Responses are small, static and cached: answering a shed must cost less than serving.
    """
    status = 504 if reason in DEADLINE_REASONS else 503
    key = (status, max(1, retry_after or 1) if status == 503 else 0, no_retry)
    cached = _CACHE.get(key)
    if cached is not None:
        return cached
    body = _BODIES[status]
    headers = [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", str(len(body)).encode()),
        (OVERLOAD_HEADER, b"no-retry" if no_retry or status == 504 else b"shed"),
    ]
    if status == 503:
        headers.append((b"retry-after", str(key[1]).encode()))
    response = Response(status, tuple(headers), body)
    if len(_CACHE) < 256:
        _CACHE[key] = response
    return response


class DownstreamOverloaded(Exception):
    """Raise from a handler when a downstream call answered "overloaded" and this request cannot be
    served: the permit completes as ``dropped`` and, if nothing was sent yet, the caller gets a 503
    (``no_retry=True`` once the retries against that downstream are exhausted, spec §6.2, §10.3)."""

    def __init__(self, message: str = "downstream overloaded", *, no_retry: bool = True) -> None:
        super().__init__(message)
        self.no_retry = no_retry
