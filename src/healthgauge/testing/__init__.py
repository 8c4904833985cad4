"""Test helpers for healthgauge's users and its own tests: a fake clock for the pure core, metric
page builders, and loopback servers that misbehave on purpose."""

from healthgauge.testing._clock import FakeClock
from healthgauge.testing._pages import (
    Exemplar,
    Family,
    format_timestamp,
    format_value,
    realistic_families,
    realistic_page,
    render,
)

__all__ = [
    "Exemplar",
    "FakeClock",
    "Family",
    "format_timestamp",
    "format_value",
    "realistic_families",
    "realistic_page",
    "render",
]
