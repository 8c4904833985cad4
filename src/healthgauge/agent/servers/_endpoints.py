"""The agent's HTTP endpoints: path dispatch over the pure renderers, and listener start-up.

Every answer comes from the hub's cached state (never an evaluation on the request path), so a
probe costs a dictionary lookup and a render. The probe server (``_probeserver.py``) serves
connections concurrently and keeps them alive (Envoy holds its health-check connection open,
consumers.md §4.5); a client that resets the connection after the reply (HAProxy does, §3.6) is
simply gone. :func:`start_site` starts the aiohttp-based admin listener.

==========================  ==================================================================
path                        answer
==========================  ==================================================================
``/livez``, ``/readyz``      all targets, kube-apiserver style (``?verbose``, ``?exclude=name``)
``/livez/<t>``, ``/readyz/<t>``  one target
``/health/<t>``              health+json (``?consul``: 429 on warn)
``/metrics``                 the agent's own metrics (prometheus_client text)
``/status``, ``/``           the status page for people (``_status.py``), with ``/status.json``
==========================  ==================================================================
"""

from __future__ import annotations

import os
import socket
import stat
from collections.abc import Awaitable, Callable
from urllib.parse import parse_qs

from aiohttp import web

from healthgauge.agent.servers._status import StatusPage
from healthgauge.agent.state._hub import StateHub
from healthgauge.health._http import (
    TEXT,
    Probe,
    Response,
    render_health,
    render_not_found,
    render_probe,
    render_probe_one,
)
from healthgauge.http._listen import ACCEPT_BATCH

MetricsRender = Callable[[], Awaitable[tuple[bytes, str]]]


class Endpoints:
    """The probe endpoints over one hub: ``handle(path, query)`` answers from cached state.

    Each target's health+json freshness comes from its spec (``hub.spec(name)``).
    Served by :class:`healthgauge.agent.servers._probeserver.ProbeServer`.
    """

    def __init__(
        self, hub: StateHub, *, metrics: MetricsRender | None = None, status: StatusPage | None = None
    ) -> None:
        self.hub = hub
        self.metrics = metrics
        self.status = status

    def handle(self, path: str, query: str) -> Response | Awaitable[Response]:
        head, _, name = path[1:].partition("/")
        if head in ("livez", "readyz") and "/" not in name:
            probe: Probe = "livez" if head == "livez" else "readyz"
            return self._one(probe, name, query) if name else self._all(probe, query)
        if head == "health" and name and "/" not in name:
            return self._health(name, query)
        if path == "/metrics" and self.metrics is not None:
            return self._metrics()
        page = self.status.handle(path) if self.status is not None else None
        return page if page is not None else (404, TEXT, b"not found\n")

    async def _metrics(self) -> Response:
        assert self.metrics is not None
        body, content_type = await self.metrics()
        return 200, (("Content-Type", content_type),), body

    def _health(self, name: str, query: str) -> Response:
        state = self.hub.get(name)
        if state is None:
            return render_not_found(name)
        consul = "consul" in _params(query)
        return render_health(state, self.hub.spec(name), consul=consul)

    def _all(self, probe: Probe, query: str) -> Response:
        params = _params(query)
        exclude = params.get("exclude", [])
        return render_probe(probe, self.hub.states(), verbose="verbose" in params, exclude=exclude)

    def _one(self, probe: Probe, name: str, query: str) -> Response:
        state = self.hub.get(name)
        if state is None:
            return render_not_found(name)
        return render_probe_one(probe, state, verbose="verbose" in _params(query))


def _params(query: str) -> dict[str, list[str]]:
    """``?verbose&exclude=a&exclude=b`` -> ``{"verbose": [""], "exclude": ["a", "b"]}``."""
    return parse_qs(query, keep_blank_values=True) if query else {}


async def start_site(runner: web.BaseRunner, host: str = "", port: int = 0, path: str = "") -> str:
    """Serve ``runner`` on ``host:port`` (or a unix socket ``path``); return the address actually
    bound (the real port when ``port`` is 0). Cleans the runner up when the bind fails."""
    if path:
        _remove_stale_socket(path)
    await runner.setup()
    # An accept batch of 128 (http/_listen.py: a larger one takes that many files at once).
    tcp = web.TCPSite(runner, host, port, reuse_address=True, backlog=ACCEPT_BATCH) if not path else None
    site: web.BaseSite = tcp or web.UnixSite(runner, path)
    try:
        await site.start()
        if path:
            os.chmod(path, 0o600)  # the admin socket: only its owner may drain targets
    except BaseException:
        await runner.cleanup()
        raise
    if path:
        return f"unix:{path}"
    host, port = runner.addresses[0][:2]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _remove_stale_socket(path: str) -> None:
    """A socket file left by an agent that died: remove it, but never a live one or another file."""
    try:
        if not stat.S_ISSOCK(os.stat(path).st_mode):
            return
    except FileNotFoundError:
        return
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(1.0)
        try:
            probe.connect(path)
        except ConnectionRefusedError:
            os.unlink(path)
        except OSError:
            return
