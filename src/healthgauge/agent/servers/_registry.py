"""The consumer listeners beyond HTTP, by configuration key: one line each plugs one in.

Each key under ``[agent]`` (its value an address, ``"127.0.0.1:9000"``) maps to ``"module:function"``;
:mod:`healthgauge.agent.servers._listeners` says what the function is and imports it only when the
key is configured. The configuration reads the keys from here (this module imports nothing, so
neither depends on the other).
"""

# [agent] key -> "module:function"
LISTENERS: dict[str, str] = {
    "haproxy_listen": "healthgauge.agent.servers._haproxy:serve",
    "grpc_listen": "healthgauge.agent.servers._grpc:serve",
}
