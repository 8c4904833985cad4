"""The admin listener: the operator's ready / drain / maint per target, on loopback or a unix
socket only (the config refuses any other address), and a JSON view of every target.

==============================================  ===========================================
``GET  /v1/targets``                            every target's state
``GET  /v1/targets/<t>``                        one target's state
``POST /v1/targets/<t>/ready|drain|maint``      set its admin state; answers the new state
``POST /v1/reload``                             read the configuration file again (as SIGHUP)
==============================================  ===========================================

Who may call it (issue #13): the listener is loopback or a unix socket (mode 0600: its owner
only). A request with an ``Origin`` header is refused (403): browsers send one on every
cross-site POST, and no browser has business driving the admin API; so is one whose ``Host`` is
not a loopback name (403: DNS rebinding points a foreign name at 127.0.0.1). With
``admin_token_file`` configured, every request needs ``Authorization: Bearer <token>`` (401),
which ``healthgauge ctl --token-file FILE`` sends.
"""

from __future__ import annotations

import dataclasses
import hmac
import json
import logging
from collections.abc import Awaitable, Callable, Mapping

from aiohttp import web

from healthgauge.agent._config import ConfigError
from healthgauge.agent._reload import Plan
from healthgauge.agent.state._hub import StateHub
from healthgauge.health._state import Admin, TargetState

WORDS = {admin.value: admin for admin in Admin}

log = logging.getLogger("healthgauge.agent")

#: Host header values (without a port) the admin API answers: loopback names, and the name
#: ``healthgauge ctl`` sends over a unix socket.
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "[::1]"})

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def refusal(headers: Mapping[str, str], token: str) -> tuple[int, str] | None:
    """Why a request with these headers must be refused (status, message), or None. Pure;
    ``headers`` is case-insensitive as aiohttp's are (or has lower-case names)."""
    if headers.get("Origin") is not None:
        return 403, "a request with an Origin header is refused: no browser may drive the admin API"
    if _host_name(headers.get("Host", "")) not in LOOPBACK_HOSTS:
        return 403, "the Host header does not name a loopback address"
    if token:
        given = headers.get("Authorization", "")
        if not hmac.compare_digest(given.encode("latin-1", "replace"), f"Bearer {token}".encode()):
            return 401, "this admin API needs Authorization: Bearer <the admin_token_file's token>"
    return None


def _host_name(host: str) -> str:
    """``127.0.0.1:8100`` -> ``127.0.0.1``; ``[::1]:8100`` -> ``[::1]``."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[: host.find("]") + 1] if "]" in host else host
    return host.partition(":")[0]


def state_json(state: TargetState) -> dict[str, object]:
    """What ``healthgauge ctl`` prints: the level, the numbers and why."""
    return {
        "name": state.name,
        "level": state.level.value,
        "admin": state.admin.value,
        "live": state.live,
        "ready": state.ready,
        "warn": state.warn,
        "weight": state.weight,
        "maxconn": state.maxconn,
        "shutting_down": state.shutting_down,
        "reason": state.reason,
        "error": state.error,
        "checked_at": state.checked_at,
    }


def _json(data: object, status: int = 200) -> web.Response:
    return web.Response(status=status, body=json.dumps(data).encode(), content_type="application/json")


class AdminAPI:
    """``persist`` (the state file's flush) is awaited after each change, so a ``ctl`` that
    returns has its admin state on disk; when it fails the answer says so (``warning``)."""

    def __init__(
        self,
        hub: StateHub,
        *,
        persist: Callable[[], Awaitable[None]] | None = None,
        reload: Callable[[], Awaitable[Plan]] | None = None,
        token: str = "",
    ) -> None:
        self.hub = hub
        self.persist = persist
        self.reload = reload
        self.token = token

    @web.middleware
    async def guard(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        refused = refusal(request.headers, self.token)
        if refused is not None:
            status, message = refused
            return _json({"error": message}, status)
        return await handler(request)

    def app(self) -> web.Application:
        app = web.Application(client_max_size=4096, middlewares=[self.guard])
        app.router.add_get("/v1/targets", self.list)
        app.router.add_get("/v1/targets/{target}", self.get)
        app.router.add_post("/v1/targets/{target}/{word}", self.set)
        app.router.add_post("/v1/reload", self.reload_config)
        return app

    async def reload_config(self, request: web.Request) -> web.Response:
        """200 with what changed; 409 with why when the new configuration was refused (the agent
        keeps running the previous one)."""
        if self.reload is None:
            return _json({"error": "this agent was started without a configuration file to reload"}, 409)
        try:
            change = await self.reload()
        except ConfigError as exc:
            return _json({"error": f"reload refused, still running the previous configuration: {exc}"}, 409)
        doc: dict[str, object] = {"reloaded": True, "summary": change.summary()}
        doc.update({f.name: list(getattr(change, f.name)) for f in dataclasses.fields(change)})
        return _json(doc)

    async def list(self, request: web.Request) -> web.Response:
        return _json([state_json(s) for s in self.hub.states()])

    async def get(self, request: web.Request) -> web.Response:
        state = self.hub.get(request.match_info["target"])
        if state is None:
            return _json({"error": f"no such target: {request.match_info['target']}"}, 404)
        return _json(state_json(state))

    async def set(self, request: web.Request) -> web.Response:
        name, word = request.match_info["target"], request.match_info["word"]
        if word not in WORDS:
            return _json({"error": f"unknown admin state {word!r}: use ready, drain or maint"}, 400)
        if self.hub.get(name) is None:
            return _json({"error": f"no such target: {name}"}, 404)
        doc = state_json(self.hub.set_admin(name, WORDS[word]))
        if self.persist is not None:
            try:
                await self.persist()
            except OSError as exc:
                doc["warning"] = f"set, but not saved: it will not survive a restart: {exc}"
        return _json(doc)
