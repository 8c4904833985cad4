"""``broker.toml``: every key parsed, every error naming its key; the classifier and affinity key."""

from __future__ import annotations

import pytest

from healthgauge.broker._broker import JobClass
from healthgauge.broker._config import ConfigError, parse_config

GOOD = """
listen = "127.0.0.1:8080"
admin = "127.0.0.1:8081"
timeout = "2s"
refusal_backoff = "100ms"
affinity_wait = "20ms"
pull_order = ["critical", "batch", "interactive"]
[affinity]
query = "img"
[queues.batch]
capacity = 10
max_wait = "30s"
max_share = 0.5
[[rules]]
class = "critical"
headers = { "Healthgauge-Criticality" = "critical_plus" }
[[rules]]
class = "batch"
path_prefix = "/pdf/"
methods = ["post"]
cost = 20
[[workers]]
url = "http://127.0.0.1:9001"
max_inflight = 8
agent_port = 9101
[[workers]]
name = "gpu2"
url = "http://127.0.0.1:9002/"
"""


def test_a_full_config() -> None:
    cfg = parse_config(GOOD)
    assert cfg.listen == ("127.0.0.1", 8080)
    assert cfg.timeout == 2.0
    assert cfg.refusal_backoff == 0.1
    assert cfg.pull_order == (JobClass.CRITICAL, JobClass.BATCH, JobClass.INTERACTIVE)
    assert cfg.queues[JobClass.BATCH].capacity == 10
    assert cfg.queues[JobClass.BATCH].max_wait == 30
    assert cfg.queues[JobClass.BATCH].max_share == 0.5
    assert cfg.affinity_wait == 0.02
    assert [(w.name, w.port, w.max_inflight, w.agent_port) for w in cfg.workers] == [
        ("127.0.0.1:9001", 9001, 8, 9101),
        ("gpu2", 9002, 4, None),
    ]
    crit = {b"healthgauge-criticality": b"CRITICAL_PLUS"}
    assert cfg.classify("GET", "/img/a", crit) == (JobClass.CRITICAL, None)
    assert cfg.classify("POST", "/pdf/x", {}) == (JobClass.BATCH, 20.0)
    assert cfg.classify("GET", "/pdf/x", {}) == (JobClass.INTERACTIVE, None)
    assert cfg.affinity_key("/x", "a=1&img=cat", {}) == "cat"
    assert cfg.affinity_key("/x", "img=cat", {b"healthgauge-affinity": b"dog"}) == "dog"


def test_affinity_from_a_path_segment_or_a_header() -> None:
    base = 'listen = "127.0.0.1:0"\n[[workers]]\nurl = "http://127.0.0.1:1"\n'
    by_path = parse_config(base + "[affinity]\npath_segment = 2\n")
    assert by_path.affinity_key("/img/abc/large", "", {}) == "abc"
    assert by_path.affinity_key("/img", "", {}) is None
    by_header = parse_config(base + '[affinity]\nheader = "X-Image"\n')
    assert by_header.affinity_key("/", "", {b"x-image": b"k"}) == "k"
    assert parse_config(base).affinity_key("/img/abc", "", {}) is None


W = '[[workers]]\nurl = "http://a:1"'


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ('listen = "127.0.0.1:0"', "workers:"),
        ('[[workers]]\nurl = "http://127.0.0.1:1"', "listen:"),
        ('listen = "nowhere"\n[[workers]]\nurl = "http://127.0.0.1:1"', "listen:"),
        ('listen = "127.0.0.1:0"\nbogus = 1\n[[workers]]\nurl = "http://127.0.0.1:1"', "bogus: unknown key"),
        ('listen = "127.0.0.1:0"\n[[workers]]\nurl = "https://127.0.0.1:1"', "workers[0].url"),
        ('listen = "127.0.0.1:0"\n[[workers]]\nurl = "http://a:1"\n[[workers]]\nurl = "http://b"', "workers[1].url"),
        ('listen = "127.0.0.1:0"\n[[workers]]\nurl = "http://a:1"\nmax_inflight = 0', "workers[0].max_inflight"),
        ('listen = "127.0.0.1:0"\ntimeout = "soon"\n' + W, "timeout:"),
        ('listen = "127.0.0.1:0"\npull_order = ["batch"]\n' + W, "pull_order:"),
        ('listen = "127.0.0.1:0"\n[queues.fast]\n' + W, "queues.fast:"),
        ('listen = "127.0.0.1:0"\n[queues.batch]\nmax_wait = 0\n' + W, "queues.batch.max_wait"),
        ('listen = "127.0.0.1:0"\n[[rules]]\npath_prefix = "/"\n' + W, "rules[0].class"),
        ('listen = "127.0.0.1:0"\n[[rules]]\nclass = "batch"\ncost = -1\n' + W, "rules[0].cost"),
        ('listen = "127.0.0.1:0"\n[affinity]\nheader = "a"\nquery = "b"\n' + W, "affinity:"),
        ("listen = ", "not valid TOML"),
        ('listen = "127.0.0.1:0"\n[queues.batch]\nmax_share = 1.5\n' + W, "queues.batch.max_share"),
    ],
)
def test_errors_name_the_key(text: str, key: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(text)
    assert key in str(info.value)
