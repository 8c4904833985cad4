"""The concurrency-limit algorithms and queue-delay detectors: pure, time passed in.

Import them from ``healthgauge.overload``; these modules are private.
"""
