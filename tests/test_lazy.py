"""The one lazy ``__getattr__`` every package uses: a name's module loads on first use, once."""

from __future__ import annotations

import os.path
import subprocess
import sys
import types

import pytest

from healthgauge import _lazy

PROGRAM = """
import sys
import healthgauge.{package} as package
assert "{module}" not in sys.modules, "loaded before use"
value = package.{name}
assert "{module}" in sys.modules, "not loaded on use"
assert vars(package)["{name}"] is value, "not kept"
"""


@pytest.mark.parametrize(
    ("package", "name", "module"),
    [
        ("health", "render_agent_reply", "healthgauge.health._haproxy"),
        ("promql", "Result", "healthgauge.promql._result"),
        ("agentcheck", "AgentCheckListener", "healthgauge.agentcheck._listener"),
        ("broker", "AsyncBroker", "healthgauge.broker._asyncio"),
    ],
)
def test_each_package_loads_a_lazy_name_on_first_use(package: str, name: str, module: str) -> None:
    program = PROGRAM.format(package=package, name=name, module=module)
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def test_a_renamed_name_and_an_unknown_one(monkeypatch: pytest.MonkeyPatch) -> None:
    package = types.ModuleType("lazy_example")
    monkeypatch.setitem(sys.modules, "lazy_example", package)
    getattr_ = _lazy("lazy_example", {"joined": "os.path:join"})

    assert getattr_("joined") is os.path.join
    assert vars(package)["joined"] is os.path.join
    with pytest.raises(AttributeError, match="module 'lazy_example' has no attribute 'nothing'"):
        getattr_("nothing")
