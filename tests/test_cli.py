import subprocess
import sys
from pathlib import Path

import pytest

from healthgauge import __version__
from healthgauge.cli import COMMANDS, main

LAUNCHER = Path(sys.prefix) / "bin" / "healthgauge"


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"healthgauge {__version__}\n"


def test_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for name in COMMANDS:
        assert f"  {name} " in out


@pytest.mark.parametrize("argv", [[], ["no-such-command"]])
def test_usage_errors_exit_3(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 3
    assert "usage: healthgauge COMMAND" in capsys.readouterr().err


def test_installed_launcher_runs() -> None:
    if not LAUNCHER.exists():
        pytest.skip("the package is not installed into this interpreter's prefix")
    out = subprocess.run([str(LAUNCHER), "--version"], capture_output=True, text=True, timeout=30, check=True)
    assert out.stdout == f"healthgauge {__version__}\n"


def test_python_dash_m() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "healthgauge", "--version"], capture_output=True, text=True, timeout=30, check=True
    )
    assert out.stdout == f"healthgauge {__version__}\n"
