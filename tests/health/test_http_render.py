"""The HTTP renderers: kube-apiserver probe text and health+json with Envoy's and Consul's codes."""

import dataclasses
import json
import re

import pytest

from healthgauge.health._http import render_health, render_not_found, render_probe, render_probe_one
from healthgauge.health._state import Admin, Condition, Level, Overloaded, Role, TargetState

T0 = 1_700_000_000.25
HEALTHY = TargetState(name="worker", live=True, ready=True, weight=100, checked_at=T0, duration=0.0021, checks=3)
COND_READY = Condition(role=Role.READY, expr="app_state == 1", holds=True, summary="got 1", values=(1.0,))
COND_WARN = Condition(role=Role.WARN, expr="queue_depth > 100", holds=True, summary="got 300", values=(300.0,))

LEVELS = {
    Level.HEALTHY: HEALTHY,
    Level.DEGRADED: dataclasses.replace(HEALTHY, warn=True, weight=70, reason="queue_depth > 100: got 300"),
    Level.OVERLOADED: dataclasses.replace(HEALTHY, warn=True, weight=0, reason="queue full"),
    Level.DRAINING: dataclasses.replace(HEALTHY, admin=Admin.DRAIN),
    Level.UNHEALTHY: dataclasses.replace(HEALTHY, ready=False, reason="app_state == 1: got 0"),
    Level.DEAD: dataclasses.replace(HEALTHY, live=False, ready=False, reason="scrape failed: refused"),
}


def test_every_level_is_covered() -> None:
    assert {state.level for state in LEVELS.values()} == set(Level)
    assert all(level is state.level for level, state in LEVELS.items())


# consumers.md §10: (livez, readyz, /health, /health?consul, health status, degraded header, immediate-fail header)
MAPPING = {
    Level.HEALTHY: (200, 200, 200, 200, "pass", False, False),
    Level.DEGRADED: (200, 200, 200, 429, "warn", True, False),
    Level.OVERLOADED: (200, 200, 200, 429, "warn", True, False),
    Level.DRAINING: (200, 503, 503, 503, "fail", False, True),
    Level.UNHEALTHY: (200, 503, 503, 503, "fail", False, False),
    Level.DEAD: (503, 503, 503, 503, "fail", False, False),
}


@pytest.mark.parametrize("level", list(Level))
def test_the_consumer_mapping(level: Level) -> None:
    state = LEVELS[level]
    livez, readyz, health, consul, status, degraded, immediate = MAPPING[level]
    assert render_probe_one("livez", state)[0] == livez
    assert render_probe_one("readyz", state)[0] == readyz
    code, headers, body = render_health(state)
    names = {k.lower() for k, _ in headers}
    assert (code, json.loads(body)["status"]) == (health, status)
    assert ("x-envoy-degraded" in names, "x-envoy-immediate-health-check-fail" in names) == (degraded, immediate)
    assert render_health(state, consul=True)[0] == consul


# The overloaded policy (consumers.md §10): "warn" answers as above, "fail" as out of service.
@pytest.mark.parametrize(
    ("policy", "want"),
    [
        (Overloaded.WARN, (200, 200, 200, 429, "warn", True, False)),
        (Overloaded.FAIL, (200, 503, 503, 503, "fail", False, False)),
    ],
)
def test_the_overloaded_policy(policy: Overloaded, want: tuple[object, ...]) -> None:
    state = dataclasses.replace(LEVELS[Level.OVERLOADED], overloaded=policy)
    assert state.level is Level.OVERLOADED
    livez, readyz, health, consul, status, degraded, immediate = want
    assert render_probe_one("livez", state)[0] == livez
    assert render_probe_one("readyz", state)[0] == readyz
    assert render_probe("readyz", [HEALTHY, state])[0] == readyz
    code, headers, body = render_health(state)
    names = {k.lower() for k, _ in headers}
    doc = json.loads(body)
    assert (code, doc["status"], doc["output"]) == (health, status, "queue full")
    assert ("x-envoy-degraded" in names, "x-envoy-immediate-health-check-fail" in names) == (degraded, immediate)
    assert render_health(state, consul=True)[0] == consul
    if policy is Overloaded.FAIL:
        assert (
            render_probe_one("readyz", state)[2] == b"[-]worker failed: overloaded: queue full\nreadyz check failed\n"
        )
    # The policy matters only at weight 0: a degraded target answers the same under both.
    degraded_state = dataclasses.replace(LEVELS[Level.DEGRADED], overloaded=policy)
    assert (render_probe_one("readyz", degraded_state)[0], render_health(degraded_state)[0]) == (200, 200)


def test_probe_ok_bodies_and_verbose() -> None:
    assert render_probe_one("readyz", HEALTHY) == (
        200,
        (("Content-Type", "text/plain; charset=utf-8"), ("X-Content-Type-Options", "nosniff")),
        b"ok",
    )
    assert render_probe_one("readyz", HEALTHY, verbose=True)[2] == b"[+]worker ok\nreadyz check passed\n"
    assert render_probe_one("livez", HEALTHY, verbose=True)[2] == b"[+]worker ok\nlivez check passed\n"


def test_a_failing_probe_always_lists_why() -> None:
    code, _, body = render_probe_one("readyz", LEVELS[Level.UNHEALTHY])
    assert (code, body) == (503, b"[-]worker failed: app_state == 1: got 0\nreadyz check failed\n")
    assert render_probe_one("readyz", LEVELS[Level.DRAINING])[2].startswith(b"[-]worker failed: admin state drain\n")
    shutting = dataclasses.replace(HEALTHY, shutting_down=True)
    assert render_probe_one("readyz", shutting)[2].startswith(b"[-]worker failed: shutting down\n")


def test_all_targets_with_exclusions_as_kube_apiserver() -> None:
    api = dataclasses.replace(LEVELS[Level.UNHEALTHY], name="api")
    db = dataclasses.replace(HEALTHY, name="db")
    assert render_probe("readyz", [HEALTHY, db])[:3:2] == (200, b"ok")
    code, _, body = render_probe("readyz", [HEALTHY, api, db], verbose=False)
    assert code == 503
    assert body.decode() == ("[+]worker ok\n[-]api failed: app_state == 1: got 0\n[+]db ok\nreadyz check failed\n")
    code, _, body = render_probe("readyz", [HEALTHY, api, db], verbose=True, exclude=["api", "nope", "x"])
    assert code == 200
    assert body.decode() == (
        "[+]worker ok\n[+]api excluded: ok\n[+]db ok\n"
        'warn: some health checks cannot be excluded: no matches for "nope","x"\n'
        "readyz check passed\n"
    )
    assert render_probe("livez", [HEALTHY, api])[2] == b"ok"


def test_reasons_are_one_line() -> None:
    state = dataclasses.replace(HEALTHY, ready=False, reason="bad\nthing\r\x00")
    assert render_probe_one("readyz", state)[2] == b"[-]worker failed: bad thing  \nreadyz check failed\n"


def test_health_json_document() -> None:
    state = dataclasses.replace(LEVELS[Level.DEGRADED], maxconn=40, conditions=(COND_READY, COND_WARN))
    code, headers, body = render_health(state, max_age=2)
    assert code == 200
    assert dict(headers)["Content-Type"] == "application/health+json"
    assert dict(headers)["Cache-Control"] == "max-age=2"
    doc = json.loads(body)
    assert doc["status"] == "warn"
    assert doc["output"] == "queue_depth > 100: got 300"
    assert doc["notes"] == ["level: degraded", "admin: ready"]
    assert set(doc["checks"]) == {
        "worker:responseTime",
        "worker:ready",
        "worker:warn",
        "worker:weight",
        "worker:maxconn",
    }
    for key, items in doc["checks"].items():
        assert key.count(":") == 1
        assert isinstance(items, list)
        for item in items:
            assert ("observedValue" in item) == ("observedUnit" in item)
            assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", item["time"])
    assert doc["checks"]["worker:ready"] == [
        {
            "componentId": "app_state == 1",
            "componentType": "component",
            "status": "pass",
            "observedValue": 1,
            "observedUnit": "value",
            "time": "2023-11-14T22:13:20.250Z",
        }
    ]
    warn = doc["checks"]["worker:warn"][0]
    assert (warn["status"], warn["observedValue"], warn["output"]) == ("warn", 300, "got 300")
    assert doc["checks"]["worker:weight"][0]["observedValue"] == 70
    assert doc["checks"]["worker:maxconn"][0]["observedValue"] == 40
    assert doc["checks"]["worker:responseTime"][0]["observedValue"] == 0.0021


def test_health_json_pass_has_no_output_and_fail_has_the_reason() -> None:
    doc = json.loads(render_health(HEALTHY)[2])
    assert "output" not in doc
    assert all("output" not in item for items in doc["checks"].values() for item in items)
    doc = json.loads(render_health(LEVELS[Level.DEAD])[2])
    assert doc["output"] == "scrape failed: refused"


def test_health_json_spells_special_floats_and_many_values() -> None:
    cond = Condition(role=Role.READY, expr="x", holds=False, values=(float("nan"), float("inf"), -0.5))
    doc = json.loads(render_health(dataclasses.replace(HEALTHY, conditions=(cond,)))[2])
    item = doc["checks"]["worker:ready"][0]
    assert item["observedValue"] == ["NaN", "+Inf", -0.5]
    assert item["output"] == "does not hold"


def test_health_json_before_the_first_check_and_while_draining() -> None:
    doc = json.loads(render_health(TargetState(name="w"))[2])
    assert doc["status"] == "fail"
    assert doc["checks"]["w:responseTime"][0]["output"] == "not checked yet"
    assert "time" not in doc["checks"]["w:responseTime"][0]
    doc = json.loads(render_health(dataclasses.replace(HEALTHY, shutting_down=True))[2])
    assert doc["checks"]["worker:admin"][0]["output"] == "shutting down"
    assert "agent shutting down" in doc["notes"]


def test_not_found() -> None:
    assert render_not_found("a\nb") == (404, render_not_found("")[1], b"no such target: a b\n")
