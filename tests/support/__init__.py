"""Helpers for tests that drive real programs on loopback (not part of the package)."""
