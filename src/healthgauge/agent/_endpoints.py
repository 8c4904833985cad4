"""The agent's HTTP endpoints: a thin aiohttp adapter over the pure renderers.

Every answer comes from the hub's cached state (never an evaluation on the request path), so a
probe costs a dictionary lookup and a render. aiohttp serves connections concurrently and keeps
them alive (Envoy holds its health-check connection open, consumers.md §4.5); a client that
resets the connection after the reply (HAProxy does, §3.6) is simply gone.

==========================  ==================================================================
path                        answer
==========================  ==================================================================
``/livez``, ``/readyz``      all targets, kube-apiserver style (``?verbose``, ``?exclude=name``)
``/livez/<t>``, ``/readyz/<t>``  one target
``/health/<t>``              health+json (``?consul``: 429 on warn)
``/metrics``                 the agent's own metrics (prometheus_client text)
==========================  ==================================================================
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from healthgauge.agent._hub import StateHub
from healthgauge.health._http import Probe, Response, render_health, render_not_found, render_probe, render_probe_one

MetricsRender = Callable[[], Awaitable[tuple[bytes, str]]]


def _answer(response: Response) -> web.Response:
    status, headers, body = response
    return web.Response(status=status, headers=headers, body=body)


class Endpoints:
    """Request handlers bound to one hub; ``max_age`` gives each target's health+json freshness."""

    def __init__(self, hub: StateHub, *, max_age: dict[str, int], metrics: MetricsRender | None = None) -> None:
        self.hub = hub
        self.max_age = max_age
        self.metrics = metrics

    def app(self) -> web.Application:
        app = web.Application(handler_args={"max_field_size": 8190, "max_line_size": 8190})
        app.router.add_get("/livez", self.livez)
        app.router.add_get("/readyz", self.readyz)
        app.router.add_get("/livez/{target}", self.livez_one)
        app.router.add_get("/readyz/{target}", self.readyz_one)
        app.router.add_get("/health/{target}", self.health)
        if self.metrics is not None:
            app.router.add_get("/metrics", self.own_metrics)
        return app

    async def livez(self, request: web.Request) -> web.Response:
        return self._all("livez", request)

    async def readyz(self, request: web.Request) -> web.Response:
        return self._all("readyz", request)

    async def livez_one(self, request: web.Request) -> web.Response:
        return self._one("livez", request)

    async def readyz_one(self, request: web.Request) -> web.Response:
        return self._one("readyz", request)

    async def health(self, request: web.Request) -> web.Response:
        name = request.match_info["target"]
        state = self.hub.get(name)
        if state is None:
            return _answer(render_not_found(name))
        consul = "consul" in request.query
        return _answer(render_health(state, consul=consul, max_age=self.max_age.get(name, 1)))

    async def own_metrics(self, request: web.Request) -> web.Response:
        assert self.metrics is not None
        body, content_type = await self.metrics()
        return web.Response(body=body, headers={"Content-Type": content_type})

    def _all(self, probe: Probe, request: web.Request) -> web.Response:
        query = request.query
        exclude = query.getall("exclude", [])
        return _answer(render_probe(probe, self.hub.states(), verbose="verbose" in query, exclude=exclude))

    def _one(self, probe: Probe, request: web.Request) -> web.Response:
        name = request.match_info["target"]
        state = self.hub.get(name)
        if state is None:
            return _answer(render_not_found(name))
        return _answer(render_probe_one(probe, state, verbose="verbose" in request.query))


async def start_site(app: web.Application, host: str = "", port: int = 0, path: str = "") -> tuple[web.AppRunner, str]:
    """Serve ``app`` on ``host:port`` (or a unix socket ``path``); return the runner and the
    address actually bound (the real port when ``port`` is 0)."""
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
    await runner.setup()
    tcp = web.TCPSite(runner, host, port, reuse_address=True, backlog=1024) if not path else None
    site: web.BaseSite = tcp or web.UnixSite(runner, path)
    try:
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    return runner, _bound(runner, path)


def _bound(runner: web.AppRunner, path: str) -> str:
    if path:
        return f"unix:{path}"
    host, port = runner.addresses[0][:2]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
