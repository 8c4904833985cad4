"""The status page: what the agent sees and what it tells each consumer, for a person to look at.

Read-only, on the agent's HTTP listener (the admin listener keeps the actions):

===================  ===========================================================================
path                 answer
===================  ===========================================================================
``/status``          the page (HTML); ``/`` redirects to it
``/status.json``     everything the page shows, for scripts too; the page polls it every second
``/status.js|.css``  the page's script and style: served here, nothing is loaded from elsewhere
===================  ===========================================================================

Per target: level, reason, admin state, weight and maxconn, each rule's last value with a
sparkline of its recent values (:class:`RuleHistory`), and what each consumer is being told
(HAProxy's agent-check line, ``/readyz`` and ``/livez``, Envoy's and Consul's ``/health`` codes,
gRPC's status for ``<t>`` and ``<t>.live``); and the agent's own health. It never shows a secret:
no request header, no token, and a target's URL without user information or query string (reasons
are cleaned the same way). A Content-Security-Policy allows nothing but this origin's own script,
style and JSON, so the page works offline and cannot be made to load anything else.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from healthgauge import __version__
from healthgauge.agent._config import Config
from healthgauge.agent.servers._admin import state_json
from healthgauge.agent.state._hub import StateHub
from healthgauge.health._grpc import LIVE_SUFFIX, SERVING, serving_status
from healthgauge.health._haproxy import render_agent_reply
from healthgauge.health._http import Response, health_code, health_status, render_probe_one
from healthgauge.health._state import Level, TargetState

#: Values kept per rule for its sparkline: a minute at the demo's 1 s interval, ten at 10 s.
SPARK_POINTS = 60
POLL_SECONDS = 1.0
# Beyond this many targets the page asks less often (one more second per this many), and every
# viewer within that time gets the same document: bench/status_page.py measures a poll of 1,000
# targets at ~0.1-0.3 s of CPU, most of it encoding ~2 MB of JSON.
TARGETS_PER_POLL_SECOND = 250
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
_SECURITY = (("Content-Security-Policy", CSP), ("X-Content-Type-Options", "nosniff"), ("Cache-Control", "no-store"))
_SECRET_HEADER = re.compile(r"auth|token|key|secret|cookie|pass|session|credential", re.IGNORECASE)
_USERINFO = re.compile(r"(\b[a-zA-Z][a-zA-Z0-9+.-]*://)[^/@\s]*@")
_ASSETS = {
    "/status": ("index.html", "text/html; charset=utf-8"),
    "/status.js": ("status.js", "text/javascript; charset=utf-8"),
    "/status.css": ("status.css", "text/css; charset=utf-8"),
}


class RuleHistory:
    """A hub subscriber keeping each target's last :data:`SPARK_POINTS` rule values (the first
    value of each rule at each check to 4 significant digits, ``None`` when it returned nothing or
    not a finite number) and whether each held. Bounded: targets × rules × points; a target's
    rings restart when its rules change. Each ring is a tuple replaced at every check, never
    changed in place, so the page may read them from a worker thread while the loop records."""

    def __init__(self, points: int = SPARK_POINTS) -> None:
        self.points = points
        self._rules: dict[str, tuple[str, ...]] = {}
        self._values: dict[str, tuple[tuple[float | None, ...], ...]] = {}
        self._holds: dict[str, tuple[tuple[bool, ...], ...]] = {}

    def __call__(self, old: TargetState, new: TargetState) -> None:
        if new.checks == old.checks or new.error:
            return  # an admin change, or a failed scrape (it keeps the last conditions)
        name, conditions = new.name, new.conditions
        rules = tuple(f"{c.role.value} {c.expr}" for c in conditions)
        if self._rules.get(name) != rules:
            self._rules[name] = rules
            self._values[name] = self._holds[name] = tuple(() for _ in rules)
        keep = 1 - self.points
        self._values[name] = tuple(
            (*r[keep:], _point(c.values)) for r, c in zip(self._values[name], conditions, strict=True)
        )
        self._holds[name] = tuple((*r[keep:], c.holds) for r, c in zip(self._holds[name], conditions, strict=True))

    def of(self, name: str, index: int) -> tuple[list[float | None], list[bool]]:
        """A rule's recent values and holds, oldest first."""
        values = self._values.get(name, ())
        if index >= len(values):
            return [], []
        return list(values[index]), list(self._holds[name][index])

    def forget(self, keep: Mapping[str, object]) -> None:
        """Drop the targets a reload removed."""
        for name in [n for n in self._rules if n not in keep]:
            del self._rules[name], self._values[name], self._holds[name]


def _point(values: Sequence[float]) -> float | None:
    if not values or not math.isfinite(values[0]):
        return None
    return float(f"{values[0]:.4g}")  # a sparkline needs no more, and the page stays small


@dataclass(slots=True, kw_only=True)
class AgentFacts:
    """What the page says about the agent itself, read when the page asks."""

    started_at: float
    addresses: Mapping[str, str]
    config: Callable[[], Config]
    reloads: Any  # the agent's ReloadStatus
    scrapes: Callable[[], tuple[int, int]]  # (ok, failed) over every target
    state_file_error: Callable[[], str] = field(default=lambda: "")


class StatusPage:
    """Serves :data:`_ASSETS` and ``/status.json`` from the hub's cached states."""

    def __init__(self, hub: StateHub, facts: AgentFacts, history: RuleHistory, *, wall: Callable[[], float]) -> None:
        self.hub = hub
        self.facts = facts
        self.history = history
        self.wall = wall
        self._cached: tuple[float, float, bytes] | None = None  # (made at, good for, body)
        pkg = resources.files("healthgauge.agent.servers") / "_static"
        self._assets = {
            path: (pkg.joinpath(name).read_bytes(), content_type) for path, (name, content_type) in _ASSETS.items()
        }

    def handle(self, path: str) -> Response | Awaitable[Response] | None:
        """The answer for ``path``, or ``None`` when it is not the status page's."""
        if path == "/":
            return 302, (("Location", "/status"), *_SECURITY), b""
        if path == "/favicon.ico":  # browsers ask for it; no icon, and no 404 in their console
            return 204, _SECURITY, b""
        if path in self._assets:
            body, content_type = self._assets[path]
            return 200, (("Content-Type", content_type), *_SECURITY), body
        if path == "/status.json":
            return self._json()
        return None

    async def _json(self) -> Response:
        # What moves on the loop is read on the loop; the targets (a thousand make a large
        # document) are rendered and encoded in a worker thread from immutable snapshots, so
        # probes keep their latency while someone watches the page, as for /metrics.
        now, config, states = self.wall(), self.facts.config(), self.hub.states()
        cached = self._cached
        if cached is not None and 0 <= now - cached[0] < cached[1]:
            body = cached[2]
        else:
            self.history.forget({s.name: s for s in states})
            agent = self._agent(states, now, config)
            poll = max(POLL_SECONDS, len(states) / TARGETS_PER_POLL_SECOND)
            body = await asyncio.to_thread(self._encode, now, config, states, agent, poll)
            self._cached = (now, poll - 0.1, body)  # a little less: one poll never sees the last
        return 200, (("Content-Type", "application/json"), *_SECURITY), body

    def _encode(
        self, now: float, config: Config, states: tuple[TargetState, ...], agent: dict[str, Any], poll: float
    ) -> bytes:
        doc = self.document(now, config, states, agent, poll)
        return json.dumps(doc, allow_nan=False, separators=(",", ":")).encode()

    def document(
        self,
        now: float,
        config: Config,
        states: tuple[TargetState, ...],
        agent: dict[str, Any],
        poll: float = POLL_SECONDS,
    ) -> dict[str, Any]:
        """Everything the page shows, from snapshots (pure apart from reading the rings)."""
        secrets = _secrets(config)
        targets = {t.name: t for t in config.targets}
        stopping = agent["shutting_down"] or any(s.shutting_down for s in states)
        return {
            "now": now,
            "poll_seconds": poll,
            "agent": agent,
            "targets": [self._target(s, targets.get(s.name), stopping, secrets) for s in states],
        }

    def _agent(self, states: tuple[TargetState, ...], now: float, config: Config) -> dict[str, Any]:
        ok, failed = self.facts.scrapes()
        levels = {level.value: 0 for level in Level}
        for state in states:
            levels[state.level.value] += 1
        reloads = self.facts.reloads
        return {
            "version": __version__,
            "uptime_seconds": round(now - self.facts.started_at, 1),
            "shutting_down": self.hub.shutting_down,
            "listeners": dict(self.facts.addresses),
            "levels": levels,
            "scrapes": {"ok": ok, "failed": failed},
            "reload": {
                "successful": reloads.successful,
                "success_at": reloads.success_at,
                "error": _clean(reloads.error, _secrets(config)),
            },
            "state_file_error": self.facts.state_file_error(),
        }

    def _target(self, state: TargetState, target: Any, stopping: bool, secrets: tuple[str, ...]) -> dict[str, Any]:
        rules = []
        for i, condition in enumerate(state.conditions):
            values, holds = self.history.of(state.name, i)
            rules.append(
                {
                    "role": condition.role.value,
                    "expr": condition.expr,
                    "holds": condition.holds,
                    "summary": _clean(condition.summary, secrets),
                    "value": _finite(condition.values[0]) if condition.values else None,
                    "history": values,
                    "history_holds": "".join("1" if h else "0" for h in holds),  # compact
                }
            )
        return {
            **state_json(state),  # what `ctl status` prints, then what only the page shows
            "reason": _clean(state.reason, secrets),
            "error": _clean(state.error, secrets),
            "url": _public_url(target.url) if target is not None else "",
            "interval": target.interval if target is not None else None,
            "checks": state.checks,
            "safeguard": state.safeguard,  # flap damping or the cascade guard speaks for it
            "rules": rules,
            "consumers": consumer_view(state, stopping, secrets, limits_maxconn=bool(target and target.maxconn)),
        }


def consumer_view(
    state: TargetState, stopping: bool, secrets: tuple[str, ...], *, limits_maxconn: bool
) -> dict[str, Any]:
    """What each consumer hears about ``state`` right now, from the renderers they are served by;
    ``stopping``: the agent is shutting down (every gRPC name is NOT_SERVING then)."""
    by_name = {state.name: state}

    def grpc(name: str) -> str:
        return "SERVING" if serving_status(name, by_name, stopping=stopping) == SERVING else "NOT_SERVING"

    return {
        "haproxy": _clean(render_agent_reply(state, limits_maxconn=limits_maxconn).decode().rstrip("\n"), secrets),
        "readyz": render_probe_one("readyz", state)[0],
        "livez": render_probe_one("livez", state)[0],
        "envoy": health_code(state),
        "envoy_degraded": health_status(state) == "warn",  # render_health's x-envoy-degraded
        "consul": health_code(state, consul=True),
        "health": health_status(state),
        "grpc": {state.name: grpc(state.name), state.name + LIVE_SUFFIX: grpc(state.name + LIVE_SUFFIX)},
    }


def _public_url(url: str) -> str:
    """A URL as the page may show it: no user information, no query string (either may carry a
    credential)."""
    url = _USERINFO.sub(r"\1", url)
    base, sep, _ = url.partition("?")
    return base + ("?…" if sep else "")


def _secrets(config: Config) -> tuple[str, ...]:
    """Values of every target's credential-like headers (the bearer token included): never shown,
    wherever they turn up."""
    values = {value for t in config.targets for name, value in t.headers if _SECRET_HEADER.search(name)}
    values |= {v.split(None, 1)[1] for v in values if v.startswith("Bearer ") and " " in v.strip()}
    return tuple(sorted(v for v in values if len(v) >= 4))


def _clean(text: str, secrets: tuple[str, ...]) -> str:
    text = _USERINFO.sub(r"\1<redacted>@", text)
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, "<redacted>")
    return text


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None
