"""The installed ``healthgauge`` command (the launcher, run as a program): every exit code."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from healthgauge.testing import (
    GzipBombServer,
    HangingServer,
    HugeBodyServer,
    MetricsServer,
    RedirectServer,
    StatusServer,
)

LAUNCHER = Path(sys.prefix) / "bin" / "healthgauge"
PAGE = "# TYPE app_state gauge\napp_state 1\n# TYPE queue_depth gauge\nqueue_depth 500\n"


@pytest.fixture(scope="module")
def server() -> MetricsServer:
    if not LAUNCHER.exists():
        pytest.skip("the package is not installed into this interpreter's prefix")
    with MetricsServer(PAGE) as s:
        yield s  # type: ignore[misc]


def healthgauge(*args: str) -> tuple[int, str, str]:
    out = subprocess.run([str(LAUNCHER), "check", *args], capture_output=True, text=True, timeout=30, check=False)
    return out.returncode, out.stdout, out.stderr


def test_exit_0_ok(server: MetricsServer) -> None:
    assert healthgauge(server.url, 'app_state{job!="batch"} == 1') == (0, "OK - 1 condition holds | c1=1\n", "")


def test_exit_1_warn(server: MetricsServer) -> None:
    assert healthgauge(server.url, "app_state == 1", "--warn", "queue_depth > 100") == (
        1,
        "WARN - queue_depth > 100: got 500 | c1=1 c2=500\n",
        "",
    )


def test_exit_2_fail(server: MetricsServer) -> None:
    assert healthgauge(server.url, "app_state == 0") == (2, "FAIL - app_state == 0: got 1 | c1=1\n", "")


def test_exit_2_unreadable() -> None:
    with StatusServer(503) as server:
        assert healthgauge(server.url, "app_state == 1") == (
            2,
            f"FAIL - cannot read {server.url}: HTTP 503 Service Unavailable\n",
            "",
        )


def test_exit_2_deadline_on_time() -> None:
    if not LAUNCHER.exists():
        pytest.skip("the package is not installed into this interpreter's prefix")
    with HangingServer() as server:
        code, out, _ = healthgauge(server.url, "up", "--timeout", "0.2")
    assert (code, out) == (2, f"FAIL - cannot read {server.url}: deadline passed (read headers)\n")


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["--nope"], "UNKNOWN - unknown flag '--nope' (healthgauge check --help lists them)\n"),
        (["app_state =="], "UNKNOWN - invalid PromQL: "),
    ],
)
def test_exit_3_unknown(server: MetricsServer, args: list[str], line: str) -> None:
    code, out, err = healthgauge(server.url, "app_state == 1", *args)
    assert code == 3
    assert out.startswith(line)
    assert err == ""


def test_json(server: MetricsServer) -> None:
    code, out, _ = healthgauge(server.url, "app_state == 1", "--json")
    assert code == 0
    assert json.loads(out)["output"] == "OK - 1 condition holds"


def test_help(server: MetricsServer) -> None:
    code, out, _ = healthgauge("--help")
    assert code == 0
    assert out.startswith("usage: healthgauge check URL EXPR")


def test_through_a_symlink(server: MetricsServer, tmp_path: Path) -> None:
    link = tmp_path / "healthgauge"
    link.symlink_to(LAUNCHER)
    out = subprocess.run([str(link), "check", server.url, "app_state == 1"], capture_output=True, text=True, timeout=30)
    assert (out.returncode, out.stdout) == (0, "OK - 1 condition holds | c1=1\n")


def test_the_shell_line_of_a_fresh_install(server: MetricsServer, tmp_path: Path) -> None:
    # `pip install` leaves the launcher's /bin/sh line (make install turns it into a direct shebang):
    # a prefix laid out as a venv, with the launcher as it is in the source tree.
    source = Path(__file__).parents[2] / "scripts" / "healthgauge"
    venv = Path(sys.prefix)
    version = f"python{sys.version_info[0]}.{sys.version_info[1]}"
    (tmp_path / "bin").mkdir()
    (tmp_path / "lib" / version).mkdir(parents=True)
    (tmp_path / "lib" / version / "site-packages").symlink_to(venv / "lib" / version / "site-packages")
    (tmp_path / "pyvenv.cfg").write_text((venv / "pyvenv.cfg").read_text())
    (tmp_path / "bin" / "python3").symlink_to(Path(sys.executable).resolve())
    launcher = tmp_path / "bin" / "healthgauge"
    launcher.write_bytes(source.read_bytes())
    launcher.chmod(0o755)
    assert source.read_text().startswith("#!/bin/sh\n")
    out = subprocess.run(
        [str(launcher), "check", server.url, "app_state == 0"], capture_output=True, text=True, timeout=30
    )
    assert (out.returncode, out.stdout, out.stderr) == (2, "FAIL - app_state == 0: got 1 | c1=1\n", "")
    out = subprocess.run([str(launcher), "--version"], capture_output=True, text=True, timeout=30)
    assert out.stdout.startswith("healthgauge ")


# -- the installed command (quick path first, then a handover) against the full path in-process ----

# Over 512 KiB: the quick path receives it into a mapping of huge pages (_quick_fetch._buffer).
BIG = "# TYPE filler gauge\n" + "".join(f'filler{{i="{i}"}} {i}\n' for i in range(40_000)) + PAGE
assert len(BIG) > 512 * 1024
PAGES = {
    "plain": {"page": PAGE},
    "big": {"page": BIG},
    "big, a bad line": {"page": BIG + "app_state{job=} 1\n"},
    "gzip": {"page": PAGE, "gzip": True},
    "chunked": {"page": PAGE, "chunked": True},
    "chunked gzip": {"page": PAGE, "gzip": True, "chunked": True},
    "openmetrics": {"page": PAGE + "# EOF\n", "content_type": "application/openmetrics-text; version=1.0.0"},
    "openmetrics, no EOF": {"page": PAGE, "content_type": "application/openmetrics-text; version=1.0.0"},
    "a bad line": {"page": PAGE + "app_state{job=} 1\n"},
    "a duplicate": {"page": PAGE + "app_state 1\n"},
    "a timestamp": {"page": "app_state 1 1700000000000\nqueue_depth 500\n"},
}
CONDITIONS = [
    ["app_state == 1"],
    ["queue_depth > 100", "-v"],
    ["app_state == 0"],
    ["app_state == 1", "--warn", "up"],
    ["--check-up", "app_state,queue_depth", "-v"],  # the drop-in flags of the probe check replaces
]


def installed_and_in_process(url: str, args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[object, object]:
    from healthgauge._check._command import main

    args = [*args, "--timeout", "10"]  # a loaded machine must not turn a comparison into a deadline
    code, out, err = healthgauge(url, *args)
    assert err == ""
    expected = main([url, *args])
    timings = re.compile(r"in [0-9.]+ ms")  # --verbose says how long each part took
    return (code, timings.sub("in - ms", out)), (expected, timings.sub("in - ms", capsys.readouterr().out))


@pytest.mark.parametrize("kind", PAGES)
@pytest.mark.parametrize("args", CONDITIONS, ids=" ".join)
def test_the_installed_command_answers_as_the_full_path(
    kind: str, args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    if not LAUNCHER.exists():
        pytest.skip("the package is not installed into this interpreter's prefix")
    with MetricsServer(**PAGES[kind]) as server:  # type: ignore[arg-type]
        got, expected = installed_and_in_process(server.url, args, capsys)
    assert got == expected


@pytest.mark.parametrize(
    "server",
    [
        lambda: RedirectServer(PAGE, hops=2),
        lambda: RedirectServer(PAGE, hops=5),
        lambda: RedirectServer(location="http://example.invalid/metrics"),
        lambda: StatusServer(404),
        lambda: MetricsServer(PAGE, status=204),
        lambda: HugeBodyServer(20_000_000, content_length=True),
        lambda: HugeBodyServer(20_000_000),
        lambda: GzipBombServer(),
    ],
    ids=["2 redirects", "5 redirects", "another host", "404", "204", "too large", "too large, no length", "gzip bomb"],
)
def test_responses_the_quick_path_hands_over(server: object, capsys: pytest.CaptureFixture[str]) -> None:
    if not LAUNCHER.exists():
        pytest.skip("the package is not installed into this interpreter's prefix")
    with server() as s:  # type: ignore[operator]
        got, expected = installed_and_in_process(s.url, ["app_state == 1"], capsys)
    assert got == expected


@pytest.mark.parametrize("install", ["editable", "named", "wheel"])
def test_the_package_is_found_through_any_pth_file(server: MetricsServer, tmp_path: Path, install: str) -> None:
    # An editable install names its .pth file as its build tool likes: the launcher reads them all,
    # as `site` does (site.addsitedir: comments skipped, `import` lines run, relative paths from
    # site-packages); `make install` names the source directory in the launcher itself (_SOURCE),
    # so that no .pth file is read; a wheel's package sits in site-packages itself.
    import healthgauge

    source = Path(__file__).parents[2] / "scripts" / "healthgauge"
    text = source.read_bytes()
    version = f"python{sys.version_info[0]}.{sys.version_info[1]}"
    site = tmp_path / "lib" / version / "site-packages"
    site.mkdir(parents=True)
    (tmp_path / "src").symlink_to(Path(healthgauge.__file__).parents[1])
    if install == "editable":
        (site / "whatever-the-tool-calls-it.pth").write_text("# a comment\nimport sys\n../../../src\n")
    elif install == "named":
        assert b'\n_SOURCE = ""' in text
        text = text.replace(b'\n_SOURCE = ""', f'\n_SOURCE = "{tmp_path / "src"}"'.encode())
        (site / "unreadable.pth").mkdir()  # read, it would fail: it is not
    else:
        (site / "healthgauge").symlink_to(Path(healthgauge.__file__).parent)
        (site / "unreadable.pth").mkdir()  # read, it would fail: it is not
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "python3").symlink_to(Path(sys.executable).resolve())
    launcher = tmp_path / "bin" / "healthgauge"
    launcher.write_bytes(text)
    launcher.chmod(0o755)
    out = subprocess.run(
        [str(launcher), "check", server.url, "app_state == 1"], capture_output=True, text=True, timeout=30
    )
    assert (out.returncode, out.stdout, out.stderr) == (0, "OK - 1 condition holds | c1=1\n", "")


@pytest.mark.parametrize("long_path", [False, True], ids=["make install's own", "the general one"])
def test_make_install_writes_the_launcher_an_editable_install_needs(
    server: MetricsServer, tmp_path: Path, long_path: bool
) -> None:
    # Python compiles the launcher at every run: `make install` writes the four lines an editable
    # install needs (the source first on the path, then `_launch`) where the paths allow a direct
    # first line; elsewhere it keeps the general one, with what it can write in. Either checks.
    import shutil

    if shutil.which("make") is None:
        pytest.skip("no make here")
    root = Path(__file__).parents[2]
    bin_dir = tmp_path / ("x" * 120 if long_path else "v") / "bin"
    bin_dir.mkdir(parents=True)
    for name in ("python", "python3"):
        (bin_dir / name).symlink_to(Path(sys.executable).resolve())
    launcher = bin_dir / "healthgauge"
    launcher.write_bytes((root / "scripts" / "healthgauge").read_bytes())
    launcher.chmod(0o755)  # as pip installs it
    subprocess.run(
        ["make", "-s", "-C", str(root), "--eval=launcher: ; $(fast_launcher)", "launcher", f"BIN={bin_dir}"],
        check=True,
        timeout=120,
        capture_output=True,
    )
    text = launcher.read_text()
    if long_path:
        assert text.startswith("#!/bin/sh\n")
        assert f'\n_SOURCE = "{root / "src"}"' in text
    else:
        assert text.startswith(f"#!{bin_dir / 'python3'} -IS\n")
        assert len(text.splitlines()) == 4
        assert f'import sys;sys.path.insert(0,"{root / "src"}");from healthgauge import _launch\n_launch()\n' in text
    out = subprocess.run(
        [str(launcher), "check", server.url, "app_state == 1"], capture_output=True, text=True, timeout=30
    )
    assert (out.returncode, out.stdout, out.stderr) == (0, "OK - 1 condition holds | c1=1\n", "")


def test_an_ipv6_literal(capsys: pytest.CaptureFixture[str]) -> None:
    if not LAUNCHER.exists():
        pytest.skip("the package is not installed into this interpreter's prefix")
    import socket
    import threading

    try:
        listener = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        listener.bind(("::1", 0))
    except OSError:
        pytest.skip("no IPv6 loopback here")
    listener.listen(4)
    listener.settimeout(20)
    body = PAGE.encode()
    head = f"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {len(body)}\r\n\r\n".encode()

    def serve() -> None:
        for _ in range(2):  # the installed command, then the full path in-process
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(10)
                request = b""
                while b"\r\n\r\n" not in request and (chunk := conn.recv(4096)):
                    request += chunk
                conn.sendall(head + body)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        url = f"http://[::1]:{listener.getsockname()[1]}/metrics"
        got, expected = installed_and_in_process(url, ["app_state == 1", "-v"], capsys)
    finally:
        listener.close()
        thread.join(10)
    assert got == expected
    assert got[1].startswith("OK - 1 condition holds | c1=1\nfetched http://[::1]:")
