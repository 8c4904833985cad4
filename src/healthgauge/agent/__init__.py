"""The health agent: scrapes targets, judges them continuously and serves every consumer.

Run it with ``healthgauge agent --config FILE``; embed it with :class:`Agent`::

    config = load_config("agent.toml")          # rules compiled by promql_engine()
    async with Agent(config) as agent:           # the same engine by default
        unsubscribe = agent.hub.subscribe(on_change)

Consumers read target states from :class:`StateHub` (``agent.hub``); ``subscribe`` takes a
:data:`Subscriber`, ``callback(old, new)`` with two :class:`TargetState` of the same target, called
on the agent's event loop right after each change (it must return quickly). A new listener plugs in
through ``healthgauge.agent.servers._registry.LISTENERS`` (see ``servers._listeners``).
"""

from healthgauge.agent._config import (
    Address,
    AgentConfig,
    AgentConfigError,
    Config,
    ConfigError,
    Rule,
    TargetConfig,
    load_config,
    parse_config,
)
from healthgauge.agent._run import Agent
from healthgauge.agent.judge._engine import Engine, EngineError
from healthgauge.agent.judge._promql_engine import promql_engine
from healthgauge.agent.servers._listeners import Listener
from healthgauge.agent.state._hub import StateHub, Subscriber
from healthgauge.health import (
    Admin,
    Condition,
    Level,
    Overloaded,
    Policy,
    Role,
    TargetState,
    Verdict,
    level_of,
)

__all__ = [
    "Address",
    "Admin",
    "Agent",
    "AgentConfig",
    "AgentConfigError",
    "Condition",
    "Config",
    "ConfigError",
    "Engine",
    "EngineError",
    "Level",
    "Listener",
    "Overloaded",
    "Policy",
    "Role",
    "Rule",
    "StateHub",
    "Subscriber",
    "TargetConfig",
    "TargetState",
    "Verdict",
    "level_of",
    "load_config",
    "parse_config",
    "promql_engine",
]
