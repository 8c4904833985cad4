"""A command line's plan (``healthgauge._check.read_plan``, ``_plan``): read back only for the
same arguments and the same sources, never from a damaged file, and answering as the run that made it.

What a plan answers is held to the full path's answers by ``test_quick.py``'s differential tests
(``from_plan``); here are the cache's rules, and the installed command running from its plans.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import healthgauge._check
from healthgauge._check import PLAN_SOURCES, _plan, _quick, decode_plan, plan_path, read_plan, startup
from healthgauge.testing import MetricsServer, RedirectServer, StatusServer

LAUNCHER = Path(sys.prefix) / "bin" / "healthgauge"
ARGS = ["http://127.0.0.1:9100/metrics", 'app_state{job!="batch"} == 1', "--warn", "queue_depth > 100"]
PAGE = 'app_state{job="a"} 1\nqueue_depth{queue="bulk"} 500\n'


def encoded(args: list[str]) -> tuple[bytes, tuple[object, ...]]:
    plan = _quick.derive(args)
    assert plan is not None
    data = _plan.encode(args, plan)
    assert data is not None
    return data, plan


@pytest.fixture
def sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the sources a plan is stamped with, which a test may change; plans go beside it."""
    folder = tmp_path / "_check"
    (folder / "startup" / "__pycache__").mkdir(parents=True)
    for name in PLAN_SOURCES:
        shutil.copy2(Path(healthgauge._check.__file__).parent / name, folder / name)
    monkeypatch.setattr(healthgauge._check, "SOURCE_DIR", str(folder))
    monkeypatch.setattr(healthgauge._check, "PLAN_DIR", str(folder / "startup" / "__pycache__"))
    monkeypatch.setattr(startup, "CACHE_DIR", str(folder / "startup" / "__pycache__"))
    return folder


def test_plans_live_in_the_startup_cache() -> None:
    assert healthgauge._check.PLAN_DIR == startup.CACHE_DIR
    assert str(Path(_plan.__file__).parent) == healthgauge._check.SOURCE_DIR


def test_a_plan_is_read_back_for_its_own_command_line_only(sources: Path) -> None:
    data, plan = encoded(ARGS)
    assert decode_plan(data, ARGS) == plan
    for other in ([*ARGS, "-v"], ARGS[:-1], [ARGS[0] + "x", *ARGS[1:]], [*ARGS[:1], "", *ARGS[1:]]):
        assert decode_plan(data, other) is None
    # Files are named by the arguments, which the file also holds (two lists, one name: never read)
    assert plan_path(["a", ""]) != plan_path(["a"]) != plan_path(["a\0"])


def test_a_changed_source_makes_a_plan_stale(sources: Path) -> None:
    data, plan = encoded(ARGS)
    assert decode_plan(data, ARGS) == plan
    for name in PLAN_SOURCES:
        path = sources / name
        text = path.read_bytes()
        path.write_bytes(text + b"\n")  # another size
        assert decode_plan(data, ARGS) is None, name
        path.write_bytes(text)
        stat = path.stat()
        shutil.copystat(Path(healthgauge._check.__file__).parent / name, path)
        assert decode_plan(data, ARGS) == plan
        (sources / name).touch()  # another modification time
        if path.stat().st_mtime_ns != stat.st_mtime_ns:
            assert decode_plan(data, ARGS) is None, name
        path.unlink()
        assert decode_plan(data, ARGS) is None, name
        path.write_bytes(text)
        shutil.copystat(Path(healthgauge._check.__file__).parent / name, path)


def test_a_damaged_plan_is_never_read(sources: Path) -> None:
    data, plan = encoded(ARGS)
    for size in range(len(data)):
        assert decode_plan(data[:size], ARGS) is None
    for at in range(len(data)):
        for bit in (0x01, 0x20, 0x80):
            damaged = data[:at] + bytes([data[at] ^ bit]) + data[at + 1 :]
            assert decode_plan(damaged, ARGS) in (None, plan), (at, bit)  # the plan itself: a flip marshal ignores
    assert decode_plan(b"", ARGS) is None
    assert decode_plan(b"\0" * 64, ARGS) is None


def test_a_plan_is_written_and_read_back(sources: Path) -> None:
    _, plan = encoded(ARGS)
    assert read_plan(ARGS) is None
    _plan.store(ARGS, plan)  # type: ignore[arg-type]
    assert read_plan(ARGS) == plan
    # It holds the command line (a URL's query may carry a token): its owner's only.
    assert Path(plan_path(ARGS)).stat().st_mode & 0o777 == 0o600
    Path(plan_path(ARGS)).write_bytes(b"garbage")
    assert read_plan(ARGS) is None


def test_a_plan_holding_a_regular_expression_is_not_written(sources: Path) -> None:
    args = [ARGS[0], 'app_state{job=~"a|b"} == 1']
    plan = _quick.derive(args)
    assert plan is not None
    assert _plan.encode(args, plan) is None
    _plan.store(args, plan)
    assert not any(Path(healthgauge._check.PLAN_DIR).iterdir())


def test_a_cache_that_cannot_be_written_is_left_alone(sources: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = sources / "not-a-folder"
    blocker.write_text("")
    monkeypatch.setattr(healthgauge._check, "PLAN_DIR", str(blocker / "cache"))
    monkeypatch.setattr(startup, "CACHE_DIR", str(blocker / "cache"))
    _, plan = encoded(ARGS)
    _plan.store(ARGS, plan)  # type: ignore[arg-type]  # no error, nothing written
    assert read_plan(ARGS) is None


# -- the installed command, from its plans ----------------------------------------------------------


def check(*args: str) -> tuple[int, str]:
    if not LAUNCHER.exists():
        pytest.skip("the package is not installed into this interpreter's prefix")
    out = subprocess.run([str(LAUNCHER), "check", *args], capture_output=True, text=True, timeout=60)
    assert out.stderr == ""
    return out.returncode, out.stdout


def fresh(args: list[str]) -> Path:
    path = Path(plan_path(args))
    path.unlink(missing_ok=True)
    return path


@pytest.mark.parametrize(
    ("page", "condition", "code"),
    [
        ("app_state 1\n", "app_state == 1", 0),
        (PAGE, 'app_state{job!="batch"} == 1', 1),  # the --warn condition holds
        (PAGE, "app_state > 1", 2),  # the full path words a failure: a handover from the plan
        ('app_state{job="a" 1\n', "app_state == 1", 2),  # the full parser's error, with the line
    ],
)
def test_runs_from_a_plan_answer_as_the_run_that_made_it(page: str, condition: str, code: int) -> None:
    with MetricsServer(page) as server:
        args = [server.url, condition, "--warn", "queue_depth > 100", "--timeout", "10"]
        path = fresh(args)
        first = check(*args)
        assert first[0] == code
        assert path.exists()
        assert check(*args) == first
        path.write_bytes(b"damaged")
        assert check(*args) == first
        assert read_plan(args) is not None  # written anew


@pytest.mark.parametrize("kind", ["404", "redirect", "refused"])
def test_runs_from_a_plan_hand_over_as_the_run_that_made_it(kind: str) -> None:
    if kind == "refused":
        server = MetricsServer(PAGE)
        with server:
            url = server.url
    else:
        server = StatusServer(404) if kind == "404" else RedirectServer(PAGE, hops=1)
        server.start()
        url = server.url
    try:
        args = [url, "app_state == 1", "--timeout", "10"]
        fresh(args)
        first = check(*args)
        assert read_plan(args) is not None
        assert check(*args) == first
    finally:
        if kind != "refused":
            server.stop()


def test_a_plan_is_what_the_next_run_follows() -> None:
    """A valid plan is trusted as a .pyc is: one for another endpoint (written here for the test)
    is followed, which shows the run read it rather than the command line."""
    with MetricsServer("app_state 1\n") as one, MetricsServer("app_state 3\n") as other:
        args = [one.url, "app_state > 0", "--timeout", "10"]
        fresh(args)
        assert check(*args) == (0, "OK - 1 condition holds | c1=1\n")
        plan = _quick.derive([other.url, *args[1:]])
        assert plan is not None
        data = _plan.encode(args, plan)
        assert data is not None
        Path(plan_path(args)).write_bytes(data)
        assert check(*args) == (0, "OK - 1 condition holds | c1=3\n")
        fresh(args)


def test_keeping_a_plan_never_raises(sources: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """It runs between the answer and the exit: a failure must not turn into a traceback."""

    def fail(path: str, data: bytes) -> None:
        raise ValueError(path)

    monkeypatch.setattr(_plan, "write_atomically", fail)
    _, plan = encoded(ARGS)
    _plan.store(ARGS, plan)  # type: ignore[arg-type]
    _plan.store(["\udcff"], plan)  # type: ignore[arg-type]
    assert read_plan(ARGS) is None
