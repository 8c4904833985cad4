"""Consumer listeners beyond HTTP, plugged in by one line each.

Each entry maps a key under ``[agent]`` in the configuration (its value is an address,
``"127.0.0.1:9000"``) to ``"module:function"``. The agent imports the module only when the key is
configured (so an optional dependency such as grpcio costs nothing otherwise) and awaits::

    async def serve(address: Address, hub: StateHub, config: Config) -> Listener

The listener answers from ``hub`` (``hub.get(name)``, ``hub.states()``, ``hub.subscribe(...)``,
``hub.watch(...)``) and never evaluates on its own. The agent closes it at exit, after the
shutdown drain, so consumers see the drain before the listener goes away.
"""

from __future__ import annotations

import importlib
import importlib.util
import shlex
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from healthgauge.agent._config import Address, Config
    from healthgauge.agent.state._hub import StateHub

# [agent] key -> "module:function"
LISTENERS: dict[str, str] = {
    "haproxy_listen": "healthgauge.agent.servers._haproxy:serve",
    "grpc_listen": "healthgauge.agent.servers._grpc:serve",
}

# [agent] key -> (extra, the distributions it installs, the modules they provide): a listener
# whose extra is missing is refused by the configuration's validation (--check), with the command
# that installs it, instead of failing with an ImportError once the agent starts.
EXTRAS: dict[str, tuple[str, tuple[str, ...], tuple[str, ...]]] = {
    "grpc_listen": ("grpc", ("grpcio", "grpcio-health-checking"), ("grpc", "grpc_health")),
}


def missing_extra(key: str) -> str | None:
    """Why the listener for ``key`` cannot start here, and how to fix it; ``None`` when it can."""
    if key not in EXTRAS:
        return None
    extra, distributions, modules = EXTRAS[key]
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if not missing:
        return None
    install = " ".join([shlex.quote(sys.executable), "-m", "pip", "install", *distributions])
    return (
        f"needs the {extra} extra, and {', '.join(missing)} cannot be imported here; install it "
        f"into this environment: {install}"
    )


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
