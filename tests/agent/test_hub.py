"""The state hub: the table applied per target, snapshots, subscriptions and watch."""

import asyncio
import dataclasses
import itertools

import pytest

from healthgauge.agent.state._hub import StateHub
from healthgauge.health._state import Admin, Level, Overloaded, Policy, TargetState, Verdict

GOOD = Verdict(at=1.0, live=True, ready=True, reason="ok")


def make() -> StateHub:
    return StateHub({"a": Policy(rise=1), "b": Policy(rise=2)})


def test_states_in_config_order_and_fresh() -> None:
    hub = make()
    assert hub.names == ("a", "b")
    assert hub.states() == (TargetState(name="a"), TargetState(name="b"))
    assert hub.get("nope") is None


def test_observe_uses_each_targets_policy() -> None:
    hub = make()
    assert hub.observe("a", GOOD).ready
    assert not hub.observe("b", GOOD).ready
    assert hub.observe("b", GOOD).ready
    assert [s.ready for s in hub.states()] == [True, True]


def test_admin_and_shutdown() -> None:
    hub = make()
    hub.observe("a", GOOD)
    assert hub.set_admin("a", Admin.DRAIN).level is Level.DRAINING
    with pytest.raises(KeyError):
        hub.set_admin("nope", Admin.DRAIN)
    hub.shut_down()
    assert hub.shutting_down
    assert all(s.shutting_down for s in hub.states())


def test_reconfigure_keeps_moves_adds_and_removes() -> None:
    hub = make()
    kept = hub.observe("a", GOOD)
    hub.observe("b", GOOD)
    hub.set_admin("b", Admin.DRAIN)
    heard: list[tuple[str, bool]] = []
    hub.subscribe(lambda old, new: heard.append((new.name, new.ready)))
    hub.reconfigure({"c": Policy(), "b": Policy(), "a": Policy(rise=3, overloaded=Overloaded.FAIL)}, fresh=("b",))
    assert hub.names == ("c", "b", "a")
    assert hub.get("a") == dataclasses.replace(kept, overloaded=Overloaded.FAIL)  # kept, new policy
    assert hub.get("b") == TargetState(name="b", admin=Admin.DRAIN)  # moved: fresh, the drain kept
    assert hub.get("c") == TargetState(name="c")
    assert heard == [("c", False), ("b", False)]  # who started over
    hub.reconfigure({"a": Policy()})
    assert hub.names == ("a",)
    assert hub.get("b") is None


def test_subscribers_hear_changes_only() -> None:
    hub = make()
    seen: list[tuple[str, bool, bool]] = []
    unsubscribe = hub.subscribe(lambda old, new: seen.append((new.name, old.ready, new.ready)))
    hub.observe("a", GOOD)
    hub.set_admin("a", Admin.READY)  # no change: no notification
    unsubscribe()
    hub.observe("a", GOOD)
    assert seen == [("a", False, True)]
    assert hub.statistics().changes == 2


def test_a_failing_subscriber_does_not_break_the_hub(caplog: pytest.LogCaptureFixture) -> None:
    hub = make()

    def broken(_old: TargetState, _new: TargetState) -> None:
        raise RuntimeError("boom")

    hub.subscribe(broken)
    assert hub.observe("a", GOOD).ready
    assert "a state subscriber failed on a" in caplog.text


async def test_watch_gives_the_current_state_then_changes_coalesced() -> None:
    hub = make()
    stream = hub.watch("a")
    first = await asyncio.wait_for(anext(stream), 1)
    assert (first.name, first.ready) == ("a", False)
    hub.observe("a", GOOD)
    hub.set_admin("a", Admin.DRAIN)  # two changes before the reader wakes: it sees the latest
    hub.observe("b", GOOD)  # another target: not for this watcher
    latest = await asyncio.wait_for(anext(stream), 1)
    assert (latest.ready, latest.admin) == (True, Admin.DRAIN)
    await stream.aclose()
    assert hub.statistics().subscribers == 0


async def test_watch_all_and_unknown() -> None:
    hub = make()
    stream = hub.watch()
    assert [(await anext(stream)).name for _ in range(2)] == ["a", "b"]
    hub.observe("b", GOOD)
    assert (await asyncio.wait_for(anext(stream), 1)).name == "b"
    await stream.aclose()
    with pytest.raises(KeyError):
        await anext(hub.watch("nope"))


def test_scrapes_are_spread_evenly_over_each_interval() -> None:
    from healthgauge.agent._config import parse_config
    from healthgauge.agent._scrape import name_phase, spread
    from support.fake_engine import FakeEngine

    urls = ", ".join(f'"t{i}" = "http://127.0.0.1:1/{i}"' for i in range(1000))
    text = f'[[targets]]\nurls = {{ {urls} }}\ninterval = "1s"\n[[targets]]\nname = "slow"\nurl = "http://h/"\n'
    targets = parse_config(text, FakeEngine()).targets
    phases = spread(targets)
    fast = sorted(phases[t.name] for t in targets if t.interval == 1.0)
    gaps = [b - a for a, b in itertools.pairwise(fast)]
    assert 0.00099 < min(gaps) <= max(gaps) < 0.00101  # 1 ms apart, none in the same millisecond
    assert phases["slow"] == name_phase("slow")  # alone in its interval: its hash
    assert spread(list(reversed(targets))) == phases  # stable: config order does not matter
