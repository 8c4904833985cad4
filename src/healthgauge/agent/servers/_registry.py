"""The consumer listeners beyond HTTP, by configuration key: one line each plugs one in.

Each key under ``[agent]`` (its value an address, ``"127.0.0.1:9000"``) maps to ``"module:function"``;
:mod:`healthgauge.agent.servers._listeners` says what the function is and imports it only when the
key is configured. The configuration reads the keys from here (this module imports nothing at
its top, so neither depends on the other), and asks :func:`missing_extra` whether a listener's
optional dependencies are installed.
"""

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
    import importlib.util
    import shlex
    import sys

    extra, distributions, modules = EXTRAS[key]
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if not missing:
        return None
    install = " ".join([shlex.quote(sys.executable), "-m", "pip", "install", *distributions])
    return (
        f"needs the {extra} extra, and {', '.join(missing)} cannot be imported here; install it "
        f"into this environment: {install}"
    )
