"""Test helpers for healthgauge's users and its own tests: a fake clock for the pure core, metric
page builders, and loopback servers that misbehave on purpose."""

from healthgauge.testing._clock import FakeClock

__all__ = ["FakeClock"]
