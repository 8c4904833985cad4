"""Consumer listeners beyond HTTP, plugged in by one line each.

Each entry of ``_registry.LISTENERS`` maps a key under ``[agent]`` in the configuration (its value is an address,
``"127.0.0.1:9000"``) to ``"module:function"``. The agent imports the module only when the key is
configured (so an optional dependency such as grpcio costs nothing otherwise) and awaits::

    async def serve(address: Address, hub: StateHub, config: Config) -> Listener

The listener answers from ``hub`` (``hub.get(name)``, ``hub.states()``, ``hub.subscribe(...)``,
``hub.watch(...)``) and never evaluates on its own. The agent closes it at exit, after the
shutdown drain, so consumers see the drain before the listener goes away.
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Protocol

from healthgauge.agent.servers._registry import LISTENERS

if TYPE_CHECKING:
    from healthgauge.agent._config import Address, Config
    from healthgauge.agent.state._hub import StateHub


class Listener(Protocol):
    """A running listener."""

    @property
    def addresses(self) -> list[str]:
        """Where it is bound, as ``host:port`` (the real port when the config said 0)."""

    async def close(self) -> None:
        """Stop accepting and finish or cut open connections."""


Serve = Callable[["Address", "StateHub", "Config"], Awaitable[Listener]]


def resolve(key: str) -> Serve:
    """The serve function registered for a configuration key (imported now, not before)."""
    module, _, function = LISTENERS[key].partition(":")
    serve: Serve = getattr(importlib.import_module(module), function)
    return serve
