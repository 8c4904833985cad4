"""The asyncio adapters (ASGI and aiohttp middleware, agent-check responder, SIGTERM drain, loop-lag
probe, Prometheus export, uvicorn's protocols with the early refusal) around the pure core.

Import them from ``healthgauge.overload`` (loaded lazily); these modules are private.
"""
