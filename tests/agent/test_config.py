"""Configuration: the issue's minimal config as written, every key, and errors that quote key and text."""

from pathlib import Path

import pytest

from healthgauge.agent._config import (
    DEFAULT_BODY_LIMIT,
    Address,
    ConfigError,
    load_config,
    parse_address,
    parse_config,
    parse_duration,
)
from healthgauge.health._state import Policy
from support.fake_engine import FakeEngine

MINIMAL = """
[agent]
listen = "127.0.0.1:8099"        # HTTP endpoints
admin = "127.0.0.1:8100"         # admin listener, loopback only
shutdown_grace = "5s"

[[targets]]
name = "worker"
url = "http://127.0.0.1:9100/metrics"
interval = "1s"
timeout = "500ms"
live = ["time_since_iteration < 60"]
ready = ["app_state == 1"]
warn = ["queue_depth > 100"]
weight = "queue_depth"
maxconn = "50"
rise = 2
fall = 3
"""

TARGET = '[[targets]]\nname = "w"\nurl = "http://127.0.0.1:1/metrics"\n'


def parse(text: str):  # type: ignore[no-untyped-def]
    return parse_config(text, FakeEngine())


def error(text: str) -> str:
    with pytest.raises(ConfigError) as info:
        parse(text)
    return str(info.value)


def test_the_minimal_config() -> None:
    config = parse(MINIMAL)
    assert config.agent.listen == Address(host="127.0.0.1", port=8099)
    assert config.agent.admin == Address(host="127.0.0.1", port=8100)
    assert config.agent.shutdown_grace == 5.0
    (t,) = config.targets
    assert (t.name, t.url, t.interval, t.timeout) == ("worker", "http://127.0.0.1:9100/metrics", 1.0, 0.5)
    assert [r.text for r in t.live] == ["time_since_iteration < 60"]
    assert [r.key for r in t.ready] == ["targets[0].ready[0]"]
    assert t.weight is not None
    assert t.weight.text == "queue_depth"
    assert t.maxconn is not None
    assert t.maxconn.text == "50"
    assert t.policy == Policy(rise=2, fall=3, live_fall=3)
    assert t.names == frozenset({"time_since_iteration", "app_state", "queue_depth"})
    assert t.body_limit == DEFAULT_BODY_LIMIT
    assert config.target("worker") is t
    assert config.target("nope") is None


def test_defaults_and_many_urls_sharing_rules() -> None:
    config = parse(
        """
[defaults]
interval = "2s"
ready = ["up == 1"]
live_fall = 5
[[targets]]
urls = { api-1 = "http://127.0.0.1:1/metrics", "api.2" = "https://[::1]:2/m" }
timeout = "1s"
headers = { X-Tenant = "a" }
token = "s3cret"
history = "5m"
body_limit = "1MiB"
"""
    )
    a, b = config.targets
    assert (a.name, b.name, b.url) == ("api-1", "api.2", "https://[::1]:2/m")
    assert (a.interval, a.timeout, a.history, a.body_limit) == (2.0, 1.0, 300.0, 1024 * 1024)
    assert a.headers == (("X-Tenant", "a"), ("Authorization", "Bearer s3cret"))
    assert a.policy == Policy(rise=2, fall=3, live_fall=5)
    assert [r.text for r in b.ready] == ["up == 1"]
    assert config.agent.listen == Address(host="127.0.0.1", port=8099)
    assert config.agent.admin is None


def test_history_covers_the_longest_range() -> None:
    (t,) = parse(TARGET + 'interval = "1s"\nready = ["jobs[2m] > 0"]\n').targets
    assert t.history == 120 + 2 * 1.0
    assert error(TARGET + 'ready = ["jobs[2m] > 0"]\nhistory = "1m"\n') == (
        "targets[0].history: '1m' is shorter than the longest range in the rules (120s)"
    )


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("500ms", 0.5), ("1s", 1.0), ("5m", 300.0), ("1h", 3600.0), ("1m30s", 90.0), ("1.5s", 1.5), ("0s", 0.0)],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text, "k") == seconds


@pytest.mark.parametrize("text", ["", "5", "5 s", "s", "1d", "1s5", "-1s", "1ms1"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ConfigError, match=f'^k: invalid duration "{text}"'):
        parse_duration(text, "k")
    with pytest.raises(ConfigError, match=r"^k: a duration is a string"):
        parse_duration(5, "k")


def test_addresses() -> None:
    assert parse_address("[::1]:0", "k") == Address(host="::1", port=0)
    assert str(Address(host="::1", port=80)) == "[::1]:80"
    assert parse_address("unix:/run/hg.sock", "k", unix=True) == Address(path="/run/hg.sock")
    for bad in ("8099", "host:", ":80", "h:99999", "h:x"):
        with pytest.raises(ConfigError, match=f'^k: invalid address "{bad}"'):
            parse_address(bad, "k")
    with pytest.raises(ConfigError, match="not supported here"):
        parse_address("unix:/x", "k")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            TARGET + 'ready = ["up == 1", "app_state =="]\n',
            'targets[0].ready[1]: invalid PromQL "app_state ==": unexpected end of input at column 13',
        ),
        (TARGET + 'intervall = "1s"\n', 'targets[0].intervall: unknown key "intervall" (did you mean "interval"?)'),
        ("[agent]\nlistn = 'x'\n" + TARGET, 'agent.listn: unknown key "listn" (did you mean "listen"?)'),
        ("[agnet]\n" + TARGET, 'agnet: unknown key "agnet" (did you mean "agent"?)'),
        ("[agent]\nadmin = '0.0.0.0:8100'\n" + TARGET, 'agent.admin: "0.0.0.0:8100" is not a loopback address'),
        ("[agent]\nadmin = '10.1.2.3:8100'\n" + TARGET, 'agent.admin: "10.1.2.3:8100" is not a loopback address'),
        (TARGET + 'interval = "1s"\ntimeout = "2s"\n', "targets[0].timeout: '2s' is longer than the interval '1s'"),
        (TARGET + 'interval = "0s"\n', 'targets[0].interval: "0s" is too short'),
        (TARGET + "rise = 0\n", "targets[0].rise: a whole number from 1 to 1000, got 0"),
        (TARGET + "fall = true\n", "targets[0].fall: a whole number from 1 to 1000, got True"),
        (TARGET + 'ready = "up == 1"\n', "targets[0].ready: a list of PromQL conditions"),
        (TARGET + "ready = [1]\n", "targets[0].ready[0]: a PromQL expression (a non-empty string), got 1"),
        (TARGET + "weight = true\n", "targets[0].weight: a PromQL expression (a string) or a number, got True"),
        (TARGET + TARGET, 'targets: the name "w" is used twice'),
        ("[agent]\n", "targets: at least one [[targets]] table is required"),
        ('[[targets]]\nname = "a b"\nurl = "http://x/"\n', "targets[0].name: a target name is letters"),
        ('[[targets]]\nname = "a:b"\nurl = "http://x/"\n', "targets[0].name: a target name is letters"),
        ('[[targets]]\nname = "a"\nurl = "ftp://x/"\n', 'targets[0].url: an http:// or https:// URL, got "ftp://x/"'),
        (
            '[[targets]]\nname = "a"\nurl = "http://h:99999/"\n',
            "targets[0].url: invalid URL 'http://h:99999/': port '99999' is not a number from 1 to 65535",
        ),
        ('[[targets]]\nname = "a"\nurl = "http:// x/"\n', "targets[0].url: invalid URL 'http:// x/': it contains"),
        ('[[targets]]\nname = "a"\n', "targets[0]: give exactly one of url"),
        ('[[targets]]\nname = "a"\nurls = {b = "http://x/"}\n', "targets[0].name: with urls"),
        (TARGET + "body_limit = '0MiB'\n", "targets[0].body_limit: a size in bytes"),
        (TARGET + "body_limit = '33MiB'\n", "targets[0].body_limit: '33MiB' is over the parser's page limit of 32MiB"),
        (TARGET + "headers = { 'a b' = 'x' }\n", "targets[0].headers.a b: an HTTP header name"),
        (TARGET + "token = 'a'\nheaders = { authorization = 'x' }\n", "targets[0].token: give either token"),
        (
            "[defaults]\nintreval = 'x'\n" + TARGET,
            'defaults.intreval: unknown key "intreval" (did you mean "interval"?)',
        ),
        ("targets = 1\n", "targets: at least one [[targets]] table is required"),
        ("[[targets]\n", "invalid TOML: "),
    ],
)
def test_errors_quote_the_key_and_the_text(text: str, message: str) -> None:
    assert error(text).startswith(message)


def test_load_config_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "agent.toml"
    path.write_text(TARGET + "rise = 0\n")
    with pytest.raises(ConfigError, match=rf"^{path}: targets\[0\].rise: "):
        load_config(path, FakeEngine())
    with pytest.raises(ConfigError, match=rf"^{tmp_path / 'missing.toml'}: cannot read: "):
        load_config(tmp_path / "missing.toml", FakeEngine())
    path.write_text(MINIMAL)
    assert load_config(path, FakeEngine()).targets[0].name == "worker"


def test_state_file_paths_are_taken_from_the_config_files_directory(tmp_path: Path) -> None:
    path = tmp_path / "agent.toml"
    path.write_text("[agent]\nstate_file = 'state/agent.json'\n" + TARGET)
    assert load_config(path, FakeEngine()).agent.state_file == str(tmp_path / "state" / "agent.json")
    assert parse("[agent]\nstate_file = '/var/lib/hg.json'\n" + TARGET).agent.state_file == "/var/lib/hg.json"
    assert parse(TARGET).agent.state_file == ""
    assert error("[agent]\nstate_file = ''\n" + TARGET) == "agent.state_file: a file path (a non-empty string), got ''"
    assert error("[agent]\nstate_file = 1\n" + TARGET) == "agent.state_file: a file path (a non-empty string), got 1"


def test_the_overloaded_policy_key() -> None:
    from healthgauge.health._state import Overloaded

    assert parse(TARGET).targets[0].policy.overloaded is Overloaded.WARN
    assert parse(TARGET + "overloaded = 'fail'\n").targets[0].policy.overloaded is Overloaded.FAIL
    assert parse("[defaults]\noverloaded = 'fail'\n" + TARGET).targets[0].policy.overloaded is Overloaded.FAIL
    assert error(TARGET + "overloaded = 'shed'\n") == (
        'targets[0].overloaded: "warn" (still ready, degraded) or "fail" (not ready until the load passes), '
        "got 'shed'"
    )
