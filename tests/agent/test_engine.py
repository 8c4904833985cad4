"""The production engine: real PromQL through the agent's seam, and the shipped example configs."""

from pathlib import Path

import pytest

from healthgauge.agent._config import ConfigError, load_config, parse_config
from healthgauge.agent.judge._engine import EngineError
from healthgauge.agent.judge._judgement import evaluate
from healthgauge.agent.judge._promql_engine import PromEngine
from healthgauge.promql import Outcome
from support.promql import S

EXAMPLES = Path(__file__).parents[2] / "examples"
T0 = 1_700_000_000.0


def test_compile_errors_become_config_errors_quoting_key_and_text() -> None:
    engine = PromEngine()
    with pytest.raises(EngineError):
        engine.compile("app_state ==")
    text = '[[targets]]\nname = "w"\nurl = "http://127.0.0.1:1/"\nready = ["up == 1", "app_state =="]\n'
    with pytest.raises(ConfigError, match=r'^targets\[0\]\.ready\[1\]: invalid PromQL "app_state ==": .+'):
        parse_config(text, engine)


def test_the_examples_load_with_real_promql() -> None:
    found = sorted(EXAMPLES.glob("agent*.toml"))
    assert len(found) >= 2
    for path in found:
        assert load_config(path, PromEngine()).targets


def test_a_stuck_worker_is_caught_from_an_ordinary_counter() -> None:
    engine = PromEngine()
    config = parse_config(
        """
[[targets]]
name = "w"
url = "http://127.0.0.1:1/"
interval = "1s"
live = ["time() - app_last_iteration_ts < 60"]
ready = ["app_state == 1", "rate(app_jobs_total[5s]) > 0"]
warn = ["queue_depth > 100"]
weight = "clamp(100 - queue_depth / 10, 0, 100)"
maxconn = "50"
""",
        engine,
    )
    (target,) = config.targets
    assert target.history == 5 + 2
    history = engine.history(target.history)
    jobs = 0
    for second in range(12):
        jobs += 3 if second < 6 else 0  # the counter stops moving at 6 s
        now = T0 + second
        history.add_scrape([S("app_last_iteration_ts", T0), S("app_state", 1), S("app_jobs_total", jobs),
                            S("queue_depth", 250)], now)  # fmt: skip
        verdict = evaluate(target, engine, history, now)
        if second == 4:
            assert (verdict.live, verdict.ready, verdict.warn, verdict.weight, verdict.maxconn) == (
                True,
                True,
                True,
                75,
                50,
            )
            assert verdict.reason == "queue_depth > 100: got 250"
    assert (verdict.live, verdict.ready) == (True, False)
    assert verdict.reason.startswith("rate(app_jobs_total[5s]) > 0: ")


def test_numbers_that_are_not_one_number_fail_closed() -> None:
    engine = PromEngine()
    history = engine.history(1)
    history.add_scrape([S("q", 1, shard="a"), S("q", 2, shard="b")], T0)
    out = engine.number(engine.compile("q"), history, T0)
    assert (out.holds, out.values) == (False, ())
    assert "expected one number" in out.summary
    out = engine.number(engine.compile("sum(q)"), history, T0)
    assert (out.holds, numbers(out), out.summary) == (True, (3.0,), "got 3")


async def test_time_is_injected_a_fake_clock_decides_staleness() -> None:
    """The scrape loop reads wall time only through its ``wall`` clock: with a fake one, PromQL's
    time() and the verdict's time are the fake time, so staleness is tested without waiting."""
    import asyncio

    from aiohttp import web

    from healthgauge.agent._scrape import TargetLoop
    from healthgauge.agent.state._hub import StateHub
    from healthgauge.testing import FakeClock

    async def page(_request: web.Request) -> web.Response:
        return web.Response(text="# TYPE app_last_iteration_ts gauge\napp_last_iteration_ts 1000\n")

    app = web.Application()
    app.router.add_get("/metrics", page)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        engine = PromEngine()
        url = f"http://127.0.0.1:{runner.addresses[0][1]}/metrics"
        text = (
            f'[[targets]]\nname = "w"\nurl = "{url}"\nlive = ["time() - app_last_iteration_ts < 60"]\nlive_fall = 1\n'
        )
        (target,) = parse_config(text, engine).targets
        hub = StateHub({"w": target.policy})
        clock = FakeClock(1030.0)
        loop = TargetLoop(target, engine=engine, hub=hub, wall=clock)
        await asyncio.wait_for(loop.once(), 5)
        state = hub.get("w")
        assert state is not None
        assert (state.live, state.checked_at) == (True, 1030.0)
        clock.set(1100.0)
        await asyncio.wait_for(loop.once(), 5)
        state = hub.get("w")
        assert state is not None
        assert (state.live, state.checked_at) == (False, 1100.0)
        assert state.reason == "time() - app_last_iteration_ts < 60: got 100"
        await loop.aclose()
    finally:
        await runner.cleanup()


def numbers(out: Outcome) -> tuple[float, ...]:
    """An outcome's values without their label sets (a number's outcome has one, with no labels)."""
    return tuple([value for _, value in out.values])
