"""Secrets stay secret: configured header values and tokens never leave the agent in any text.

A target's reasons and errors are built from what the target sent (an HTTP reason phrase, a
quoted exposition line, a label value in a condition's summary), and a page that echoes its
request headers would otherwise republish ``Authorization`` or ``X-Api-Key`` on the
unauthenticated ``/readyz?verbose``, ``/health/<t>``, the HAProxy reason and the admin API. So
every verdict is redacted once, where the scrape loop publishes it, against the values the
target's own configuration sends. Pure.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from healthgauge.health._state import Verdict

REDACTED = "<redacted>"

#: Values shorter than this are not redacted: they cannot be secrets worth the name, and
#: replacing every "1" or "no" in a reason would make it unreadable.
MIN_SECRET = 4

#: Request headers the agent sets itself: their values are not secrets.
_OWN = frozenset({"accept", "user-agent", "x-prometheus-scrape-timeout-seconds", "accept-encoding"})


def secrets_of(headers: Iterable[tuple[str, str]]) -> tuple[str, ...]:
    """The strings to redact for these request headers: each value, and for a credential of the
    form ``<scheme> <token>`` (``Authorization: Bearer ...``) the token alone; longest first, so
    a value that contains another is replaced whole."""
    found: set[str] = set()
    for name, value in headers:
        if name.lower() in _OWN:
            continue
        found.add(value.strip())
        _, _, token = value.strip().partition(" ")
        if token:
            found.add(token.strip())
    return tuple(sorted((s for s in found if len(s) >= MIN_SECRET), key=len, reverse=True))


def redact(text: str, secrets: tuple[str, ...]) -> str:
    """``text`` with every secret replaced by ``<redacted>``."""
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


def redact_verdict(verdict: Verdict, secrets: tuple[str, ...]) -> Verdict:
    """The verdict with its reason, error and condition summaries redacted (the same object when
    nothing needed it: the common case costs a few substring searches)."""
    if not secrets:
        return verdict
    texts = [verdict.reason, verdict.error, *(c.summary for c in verdict.conditions)]
    if not any(secret in text for text in texts for secret in secrets):
        return verdict
    conditions = tuple(
        dataclasses.replace(c, summary=redact(c.summary, secrets)) if any(s in c.summary for s in secrets) else c
        for c in verdict.conditions
    )
    return dataclasses.replace(
        verdict,
        reason=redact(verdict.reason, secrets),
        error=redact(verdict.error, secrets),
        conditions=conditions,
    )
