"""The agent's servers: the consumer protocols (HTTP probes, HAProxy agent-check, gRPC health), the
admin listener and the agent's own /metrics. Each is a thin asyncio adapter over the pure renderers
in :mod:`healthgauge.health`, reading states from the hub."""
