"""Pin the public surface: a name added to or removed from a public ``__all__`` is a decision."""

import importlib

import pytest

PUBLIC = {
    "healthgauge": ["__version__"],
    "healthgauge.health": ["FAIL", "PASS", "WARN", "Judgement", "describe", "judge"],
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
    "healthgauge.overload": [
        "AdminState",
        "Admission",
        "AdmissionCore",
        "AgentCheckResponder",
        "AgentLine",
        "AgentReply",
        "Classified",
        "Criticality",
        "DownstreamOverloaded",
        "DrainOnSignal",
        "HeaderError",
        "LoopLagProbe",
        "LoopLagStatistics",
        "Outcome",
        "OverloadCollector",
        "OverloadGuard",
        "OverloadMiddleware",
        "RequestPolicy",
        "Response",
        "RetryAfterPolicy",
        "State",
        "StaticLimit",
        "StaticLimitStatistics",
        "Ticket",
        "aiohttp_middleware",
        "classify",
        "rejection_response",
        "setup_aiohttp",
    ],
}


@pytest.mark.parametrize(("module", "names"), sorted(PUBLIC.items()))
def test_public_names(module: str, names: list[str]) -> None:
    mod = importlib.import_module(module)
    assert sorted(mod.__all__) == sorted(names)
    for name in names:
        assert getattr(mod, name) is not None
