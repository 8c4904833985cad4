"""Pin the public surface: a name added to or removed from a public ``__all__`` is a decision."""

import importlib

import pytest

PUBLIC = {
    "healthgauge": ["__version__"],
    "healthgauge.health": ["FAIL", "PASS", "WARN", "Judgement", "describe", "judge"],
    "healthgauge.overload": [
        "AIMDLimit",
        "AdaptiveThrottle",
        "AdmissionController",
        "AgentReport",
        "AgentState",
        "Clock",
        "CodelDetector",
        "ConfigError",
        "ControllerStatistics",
        "Criticality",
        "Decision",
        "DelayWindow",
        "DetectorStatistics",
        "EnvoyGradientLimit",
        "Expiry",
        "FixedLimit",
        "FollyCodel",
        "Gradient2Limit",
        "GradientLimit",
        "Limit",
        "LimitStatistics",
        "LoadReporter",
        "Outcome",
        "Permit",
        "QueueDelayLimit",
        "QueueEntry",
        "QueueOrder",
        "QueueStatistics",
        "RejectReason",
        "Rejection",
        "RetryBudget",
        "RetryBudgetStatistics",
        "ThrottleStatistics",
        "VegasLimit",
        "WaitQueue",
        "Waiter",
        "WindowedLimit",
        "combine",
        "delay_load",
        "retry_backoff",
        "weight_for_load",
        # adapters (asyncio, loaded on first use) and request classification
        "Admission",
        "AgentCheckResponder",
        "Classified",
        "DownstreamOverloaded",
        "DrainOnSignal",
        "HeaderError",
        "LoopLagProbe",
        "LoopLagStatistics",
        "OverloadCollector",
        "OverloadGuard",
        "OverloadMiddleware",
        "RequestPolicy",
        "Response",
        "aiohttp_middleware",
        "classify",
        "full_state_line",
        "rejection_response",
        "setup_aiohttp",
    ],
    "healthgauge.testing": ["FakeClock"],
    "healthgauge.broker": [
        "AsyncBroker",
        "Broker",
        "BrokerRejected",
        "Job",
        "JobClass",
        "JobState",
        "QueueStatistics",
        "Registry",
        "WorkerReport",
        "WorkerView",
        "rendezvous_order",
    ],
}


@pytest.mark.parametrize(("module", "names"), sorted(PUBLIC.items()))
def test_public_names(module: str, names: list[str]) -> None:
    mod = importlib.import_module(module)
    assert sorted(mod.__all__) == sorted(names)
    for name in names:
        assert getattr(mod, name) is not None
