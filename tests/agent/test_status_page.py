"""The status page: what it shows, that it shows no secret, and a real Chromium watching it change."""

from __future__ import annotations

import json
import math
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from healthgauge.agent._config import parse_config
from healthgauge.agent._run import Agent, ReloadStatus
from healthgauge.agent.servers._status import CSP, AgentFacts, RuleHistory, StatusPage
from healthgauge.agent.state._hub import StateHub
from healthgauge.health._state import Condition, Level, Role, TargetState
from healthgauge.testing import MetricsServer
from support.agentproc import AgentProcess
from support.browser import chromium_page, screenshot
from support.fake_engine import FakeEngine

from .conftest import Target, eventually, get

MakeTarget = Callable[[], Awaitable[Target]]


def checked(state: TargetState, value: float, holds: bool) -> TargetState:
    cond = Condition(role=Role.READY, expr="x > 1", holds=holds, values=(value,) if not math.isnan(value) else ())
    return TargetState(name=state.name, conditions=(cond,), checks=state.checks + 1)


def test_rule_history_is_bounded_and_restarts_when_the_rules_change() -> None:
    history = RuleHistory(points=3)
    state = TargetState(name="w")
    for i, value in enumerate([1.0, 2.0, math.nan, 4.0]):
        new = checked(state, value, holds=i != 2)
        history(state, new)
        state = new
    assert history.of("w", 0) == ([2.0, None, 4.0], [True, False, True])
    other = TargetState(name="w", conditions=(Condition(role=Role.WARN, expr="y", holds=True, values=(7.0,)),),
                        checks=state.checks + 1)  # fmt: skip
    history(state, other)
    assert history.of("w", 0) == ([7.0], [True])
    history.forget({})
    assert history.of("w", 0) == ([], [])


async def test_the_page_and_its_json_show_no_secret(targets: MakeTarget) -> None:
    t = await targets()
    t.page = b"app_state 1\nweight_hint 60\n"
    url = t.url.replace("http://", "http://user:hunter2@") + "?key=abc123"
    engine = FakeEngine()
    config = parse_config(
        f"""[agent]
listen = "127.0.0.1:0"
[[targets]]
name = "w"
url = "{url}"
interval = "100ms"
timeout = "80ms"
token = "s3cr3t-token"
headers = {{ X-Api-Key = "k3y-value" }}
ready = ["app_state == 1"]
weight = "weight_hint"
rise = 1
""",
        engine,
    )
    async with Agent(config, engine) as agent:
        await eventually(lambda: agent.hub.get("w").level is Level.DEGRADED, what="degraded")  # type: ignore[union-attr]
        code, headers, body = await get(agent, "/status.json")
        assert (code, headers["Content-Security-Policy"]) == (200, CSP)
        for secret in ("hunter2", "s3cr3t-token", "k3y-value", "abc123"):
            assert secret not in body
        doc = json.loads(body)
        (w,) = doc["targets"]
        assert w["url"] == t.url + "?…"
        assert (w["level"], w["weight"], w["consumers"]["haproxy"]) == ("degraded", 60, "up ready 60%")
        assert w["consumers"]["readyz"] == 200
        assert (w["consumers"]["envoy"], w["consumers"]["envoy_degraded"], w["consumers"]["consul"]) == (200, True, 429)
        assert w["consumers"]["grpc"] == {"w": "SERVING", "w.live": "SERVING"}
        assert [(r["role"], r["holds"], r["value"]) for r in w["rules"]] == [("ready", True, 1), ("weight", True, 60)]
        assert len(w["rules"][0]["history"]) >= 1
        assert doc["agent"]["levels"]["degraded"] == 1
        assert doc["agent"]["reload"]["successful"] is True
        code, headers, page = await get(agent, "/status")
        assert (code, headers["Content-Type"]) == (200, "text/html; charset=utf-8")
        assert '<script src="/status.js"' in page
        assert "http" not in page.replace('href="/status', "").split("<footer>")[0].lower().replace("http-equiv", "")
        assert (await get(agent, "/status.js"))[0] == 200
        assert (await get(agent, "/status.css"))[0] == 200


def metrics(state: int) -> str:
    return f"app_state {state}\nqueue_depth {40 + state}\n"


@pytest.fixture
def server() -> Iterator[MetricsServer]:
    with MetricsServer(metrics(1)) as served:
        yield served


@pytest.mark.real
def test_chromium_renders_the_page_and_sees_a_target_change_without_reloading(
    tmp_path: Path, server: MetricsServer
) -> None:
    page_url = server.url
    config = f"""
[agent]
listen = "127.0.0.1:0"

[[targets]]
urls = {{ "api-1" = "{page_url}", "api-2" = "{page_url}" }}
interval = "200ms"
ready = ["app_state == 1"]
weight = "clamp(100 - max(queue_depth), 0, 100)"
rise = 1
fall = 1
"""
    with AgentProcess(tmp_path, config) as agent, chromium_page() as page:
        origin = f"http://{agent.addresses['http']}"
        requests: list[str] = []
        page.on("request", lambda request: requests.append(request.url))
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        page.goto(f"{origin}/")
        assert page.url == f"{origin}/status"
        card = page.locator("#target-api-1")
        card.locator(".level", has_text="degraded").wait_for()
        page.evaluate("window.__sameDocument = true")
        assert card.locator("td.holds", has_text="holds").count() >= 1
        assert "up ready 59%" in card.locator(".consumers").inner_text()
        assert card.locator("svg.spark polyline").count() == 2
        server.page = metrics(0)  # the ready rule fails: api-1 and api-2 become unhealthy, in place
        card.locator(".level", has_text="unhealthy").wait_for()
        assert page.evaluate("window.__sameDocument") is True  # updated without a reload
        text = card.inner_text()
        assert "app_state == 1: got 0" in text
        assert "down ready" in card.locator(".consumers").inner_text()
        assert card.locator("td.fails", has_text="does not hold").count() == 1
        assert "1 unhealthy" in page.title() or "2 unhealthy" in page.title()
        shot = screenshot(page, "status-page.png")
        assert shot.stat().st_size > 10_000
        assert errors == []
        assert requests, "the page made no request"
        assert all(url.startswith(origin + "/") for url in requests), requests


async def test_many_targets_are_polled_less_often_and_share_one_document() -> None:
    urls = ", ".join(f'"t{i}" = "http://127.0.0.1:1/metrics"' for i in range(600))
    config = parse_config(f'[[targets]]\nurls = {{ {urls} }}\nready = ["up == 1"]\n', FakeEngine())
    hub = StateHub({t.name: t.policy for t in config.targets})
    now = [1000.0]
    facts = AgentFacts(started_at=0.0, addresses={}, config=lambda: config, reloads=ReloadStatus(),
                       scrapes=lambda: (0, 0))  # fmt: skip
    page = StatusPage(hub, facts, RuleHistory(), wall=lambda: now[0])
    first = await page.handle("/status.json")
    assert json.loads(first[2])["poll_seconds"] == 600 / 250
    now[0] += 1.0
    assert (await page.handle("/status.json"))[2] is first[2]  # within the poll: shared
    now[0] += 2.0
    assert (await page.handle("/status.json"))[2] is not first[2]
