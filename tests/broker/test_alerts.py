"""The example alert rules: valid for Prometheus (``promtool check rules``) and firing when they
should on made-up series (``promtool test rules``), and every metric they read is one the broker
exports."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from support.procs import require

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "broker"


@pytest.mark.real
@pytest.mark.parametrize("command", [["check", "rules", "alerts.yml"], ["test", "rules", "alerts_test.yml"]])
def test_promtool_accepts_the_rules(command: list[str]) -> None:
    promtool = require("promtool")
    done = subprocess.run([promtool, *command], cwd=EXAMPLES, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def test_the_rules_read_only_exported_metrics() -> None:
    source = (Path(__file__).resolve().parents[2] / "src/healthgauge/broker/_metrics.py").read_text()
    exported = {f"healthgauge_broker_{n}" for n in re.findall(r'"(\w+)", "', source)}
    exported |= {name + "_total" for name in exported}
    exported |= {f"healthgauge_broker_{n}" for n in re.findall(r'PREFIX \+ "(\w+)"', source)}
    used = set(re.findall(r"healthgauge_broker_\w+", (EXAMPLES / "alerts.yml").read_text()))
    assert used
    assert used <= exported, used - exported
