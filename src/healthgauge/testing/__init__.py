"""Test helpers for healthgauge's users and its own tests: a fake clock for the pure core, metric
page builders, and loopback servers that misbehave on purpose."""

from healthgauge.testing._clock import FakeClock
from healthgauge.testing._servers import (
    DripServer,
    GzipBombServer,
    HangingServer,
    HugeBodyServer,
    LoopbackServer,
    MetricsServer,
    RedirectServer,
    StatusServer,
)

__all__ = [
    "DripServer",
    "FakeClock",
    "GzipBombServer",
    "HangingServer",
    "HugeBodyServer",
    "LoopbackServer",
    "MetricsServer",
    "RedirectServer",
    "StatusServer",
]
