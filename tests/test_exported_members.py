"""Pin the public surface: a name added to or removed from a public ``__all__`` is a decision."""

import importlib

import pytest

PUBLIC = {
    "healthgauge.agent": [
        "Address",
        "Admin",
        "Agent",
        "AgentConfig",
        "Condition",
        "Config",
        "ConfigError",
        "Engine",
        "EngineError",
        "Level",
        "Listener",
        "Policy",
        "Role",
        "Rule",
        "StateHub",
        "TargetConfig",
        "TargetState",
        "Verdict",
        "level_of",
        "load_config",
        "parse_config",
    ],
    "healthgauge": ["__version__"],
    "healthgauge.exposition": [
        "ACCEPT",
        "DEFAULT_LIMITS",
        "FAMILY_SUFFIXES",
        "OPENMETRICS_TEXT",
        "PROMETHEUS_TEXT",
        "LimitError",
        "Limits",
        "ParseError",
        "Sample",
        "is_openmetrics",
        "parse",
        "parse_lenient",
    ],
    "healthgauge.health": ["FAIL", "PASS", "WARN", "Judgement", "describe", "judge"],
    "healthgauge.promql": [
        "LOOKBACK",
        "EvaluationError",
        "Expr",
        "History",
        "Outcome",
        "PromQLError",
        "Result",
        "compile",
    ],
    "healthgauge.testing": [
        "Exemplar",
        "FakeClock",
        "Family",
        "format_timestamp",
        "format_value",
        "realistic_families",
        "realistic_page",
        "render",
    ],
}
# HAProxy agent-check words (consumers.md §3).
PUBLIC["healthgauge.health"] += ["parse_agent_request", "render_agent_reply", "render_agent_unknown"]
PUBLIC["healthgauge.health"] += ["sanitize_agent_reason"]


@pytest.mark.parametrize(("module", "names"), sorted(PUBLIC.items()))
def test_public_names(module: str, names: list[str]) -> None:
    mod = importlib.import_module(module)
    assert sorted(mod.__all__) == sorted(names)
    for name in names:
        assert getattr(mod, name) is not None
