"""The README cannot drift: its conditions are judged on recordings of a well and a sick service,
its TOML goes through `agent --check`, its commands and its embedding example run as written."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from healthgauge.agent.commands import _cmd
from healthgauge.exposition import parse
from healthgauge.promql import History, compile
from healthgauge.testing import MetricsServer

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
COMMAND = [sys.executable, "-m", "healthgauge"]


def blocks(lang: str) -> list[str]:
    return re.findall(rf"^```{lang}\n(.*?)^```", README, flags=re.S | re.M)


def conditions_table() -> list[tuple[str, str]]:
    section = README.split("| what to check | condition |", 1)[1].split("\n\n", 1)[0]
    rows = [line.split("|")[1:3] for line in section.strip().splitlines()[1:]]
    return [(what.strip(), cond.strip().strip("`")) for what, cond in rows]


def page(t: float, *, well: bool) -> bytes:
    """One scrape at second ``t`` of a recording: a well service, or one that is sick in every way
    the table checks (stale, not ready, stuck with work waiting, a long queue, errors, slow)."""
    jobs = 1000 + (2 * t if well else 0)
    ok, errors = 50 * t, (0.5 if well else 10) * t
    slow = 0 if well else 45 * t
    return (
        f"app_last_iteration_ts {1_000_000 + t - (1 if well else 300)}\n"
        f"app_state {1 if well else 0}\n"
        f'jobs_processed_total{{worker="w1"}} {jobs}\n'
        f'queue_depth{{queue="default",worker="w1"}} {3 if well else 5000}\n'
        f'queue_depth{{queue="bulk",worker="w1"}} {1 if well else 40}\n'
        f'http_requests_total{{code="200"}} {ok}\nhttp_requests_total{{code="500"}} {errors}\n'
        f'request_seconds_bucket{{le="0.1"}} {50 * t - slow}\nrequest_seconds_bucket{{le="1"}} {50 * t}\n'
        f'request_seconds_bucket{{le="+Inf"}} {50 * t}\n'
    ).encode()


def recording(*, well: bool) -> tuple[History, float]:
    history = History(retention=900)
    for step in range(41):  # 10 minutes at 15 s
        t = step * 15.0
        history.add_scrape(parse(page(t, well=well)), 1_000_000 + t)
    return history, 1_000_000 + 600.0


@pytest.mark.parametrize(("what", "condition"), conditions_table(), ids=[w for w, _ in conditions_table()])
def test_each_condition_holds_when_well_and_fails_when_sick(what: str, condition: str) -> None:
    expr = compile(condition)
    well, now = recording(well=True)
    sick, _ = recording(well=False)
    assert expr.condition(well, now).holds, f"{what}: does not hold on a well service"
    assert not expr.condition(sick, now).holds, f"{what}: holds on a sick service"


def test_the_table_has_the_rows_the_issue_named() -> None:
    rows = dict(conditions_table())
    assert rows["not stuck: work gets done, or none waits (agent)"] == (
        "sum(increase(jobs_processed_total[2m])) > 0 or sum(queue_depth) == 0"
    )
    assert "clamp(100 - max(queue_depth) / 10, 0, 100)" in README
    assert "clamp(100 - queue_depth / 10" not in README


def with_target(block: str) -> str:
    """A README TOML snippet made a whole configuration: a target it may name, when it has none."""
    if "[[targets]]" in block:
        return block
    if not any(line.startswith("[") for line in block.splitlines()):  # one target's keys
        return f'[[targets]]\nname = "app"\nurl = "http://127.0.0.1:9/metrics"\n{block}'
    name = re.search(r'haproxy_default = "([^"]+)"', block)
    return f'{block}\n[[targets]]\nname = "{name.group(1) if name else "app"}"\nurl = "http://127.0.0.1:9/metrics"\n'


@pytest.mark.parametrize("block", blocks("toml"))
def test_every_toml_block_passes_check(block: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "agent.toml"
    for secret in re.findall(r'password_file = "([^"]+)"', block):  # a file the example reads
        (tmp_path / Path(secret).name).write_text("example-password\n")
        block = block.replace(secret, str(tmp_path / Path(secret).name))
    if "[[workers]]" in block:  # the broker's configuration: its own --check
        path.write_text(block)
        out = subprocess.run([*COMMAND, "broker", "--config", str(path), "--check"], capture_output=True, text=True,
                             timeout=60)  # fmt: skip
        assert out.returncode == 0, out.stderr
        return
    path.write_text(with_target(block))
    assert _cmd.main(["--config", str(path), "--check"]) == 0, capsys.readouterr().err


def sh_commands(prefix: str) -> list[str]:
    text = "\n".join(blocks("sh")).replace("\\\n", " ")
    return [line.split("  #")[0].strip() for line in text.splitlines() if line.startswith(prefix)]


RUNNABLE = [  # not the agent that runs until stopped (test_process.py runs that configuration)
    line
    for line in sh_commands("healthgauge agent --config examples/") + sh_commands("healthgauge query examples/")
    if "--check" in line or " query " in line
]


@pytest.mark.parametrize("line", RUNNABLE)
def test_commands_run_as_written(line: str) -> None:
    argv = shlex.split(line)
    out = subprocess.run([*COMMAND, *argv[1:]], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    if "incident.om" in line:
        assert out.stdout == "{}  0\n"  # what the README says it prints at 03:12
        later = subprocess.run([*COMMAND, *argv[1:-1], "2024-06-01T03:17:00Z"], capture_output=True, text=True,
                               timeout=60, cwd=ROOT)  # fmt: skip
        assert later.stdout == "(no series)\n"


def test_relative_links_name_files_that_exist() -> None:
    links = re.findall(r"\]\(([^)#]+)\)", README)
    local = [link for link in links if not link.startswith(("http://", "https://", "mailto:"))]
    assert local
    missing = [link for link in local if not (ROOT / link).exists()]
    assert missing == []
    assert "consumers.md" not in README  # a document this repository does not have
    assert not re.search(r"pip install '?healthgauge\b", README)  # not on PyPI: say how to install


@pytest.fixture
def worker_url() -> Iterator[str]:
    """A worker's page: fresh (its timestamp is now), ready, 50 jobs queued (weight 95)."""
    with MetricsServer(f"app_last_iteration_ts {time.time()}\napp_state 1\nqueue_depth 50\n") as served:
        yield served.url


def test_the_embedding_example_runs(tmp_path: Path, worker_url: str) -> None:
    (code,) = [b for b in blocks("python") if "from healthgauge.agent import Agent" in b]
    config = (ROOT / "examples" / "agent.toml").read_text()
    config = config.replace("127.0.0.1:8099", "127.0.0.1:0").replace("127.0.0.1:8100", "127.0.0.1:0")
    config = config.replace("http://127.0.0.1:9100/metrics", worker_url)
    (tmp_path / "agent.toml").write_text(config)
    code = code.replace('"examples/agent.toml"', repr(str(tmp_path / "agent.toml")))
    code = code.replace("asyncio.sleep(60)", "asyncio.sleep(4)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    # rise = 2 at 1 s: ready after two checks, at weight 95 (queue_depth 50): degraded.
    assert "worker: unhealthy -> degraded (weight 95: clamp(100 - max(queue_depth) / 10, 0, 100))" in out.stdout
