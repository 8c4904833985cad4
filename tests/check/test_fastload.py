"""The check path's one-file module loader: built once, used while fresh, never the cause of a failure.

Each case runs in a fresh interpreter (``python -I -S``) over a copy of a package in a temporary
directory, so sources can be touched and broken without disturbing the installed package.
"""

from __future__ import annotations

import marshal
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import healthgauge

STARTUP = Path(healthgauge.__file__).parent / "_check" / "startup"
FASTLOAD = [STARTUP / name for name in ("_fastload.py", "_fastload_build.py")]
SITE = [p for p in sys.path if p.endswith("site-packages")]

RUN = """
import os, sys
sys.path[:0] = [sys.argv[1], *sys.argv[2:]]
from pkg import _fastload
_fastload.ROOTS = ("pkg.main",)
_fastload.LAZY = tuple(name for name in os.environ.get("LAZY", "pkg.later").split(",") if name)
loaded = _fastload.load()
import pkg.main
answer = pkg.main.answer()
served = type(sys.modules["pkg.later"].__loader__).__name__ if "pkg.later" in sys.modules else "-"
tools = ("pkg._fastload_build",)
print(loaded, answer, served, sorted(m for m in sys.modules if m.startswith("pkg") and m not in tools))
"""


def make_package(root: Path, files: dict[str, str]) -> Path:
    package = root / "pkg"
    package.mkdir()
    for file in FASTLOAD:
        shutil.copy(file, package / file.name)
    shutil.copy(STARTUP / "__init__.py", package / "__init__.py")  # what the loader's files share
    for name, text in files.items():
        path = package / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return package


def run(root: Path) -> tuple[bool, str, list[str]]:
    loaded, answer, _, modules = run_all(root)
    return loaded, answer, modules


def run_all(root: Path, lazy: str = "pkg.later") -> tuple[bool, str, str, list[str]]:
    """Whether the bundle ran, the answer, what loaded the lazy module (``-``: not imported), and
    the package's modules after the run; ``lazy`` names the lazy roots, comma-separated."""
    out = subprocess.run(
        [sys.executable, "-I", "-S", "-c", RUN, str(root), *SITE],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "LAZY": lazy},
    )
    assert out.returncode == 0, out.stderr
    loaded, answer, served, modules = out.stdout.strip().split(" ", 3)
    return loaded == "True", answer, served, eval(modules)


PACKAGE = {
    "main.py": (
        "from pkg.sub import helper\nfrom pkg import leaf\nANSWER = helper.value() + leaf.VALUE\n"
        "def answer():\n    from pkg import later\n    return ANSWER + later.EXTRA\n"
    ),
    "later.py": "EXTRA = 0\n",
    "leaf.py": "VALUE = 1\n",
    "sub/__init__.py": "from pkg.sub.helper import value\n",
    "sub/helper.py": "from pkg import leaf\ndef value():\n    return 41 * leaf.VALUE\n",
}


def test_built_on_the_first_run_and_used_while_fresh(tmp_path: Path) -> None:
    package = make_package(tmp_path, PACKAGE)
    first = run(tmp_path)
    bundle = next((package / "__pycache__").glob("check-path.*.bundle"))
    second = run(tmp_path)
    assert first[:2] == (False, "42")
    assert second[:2] == (True, "42")
    modules = ["pkg", "pkg._fastload", "pkg.later", "pkg.leaf", "pkg.main", "pkg.sub", "pkg.sub.helper"]
    assert first[2] == second[2] == modules
    assert bundle.stat().st_size > 0


def test_the_eager_part_read_in_pieces_runs_the_same(tmp_path: Path) -> None:
    package = make_package(tmp_path, PACKAGE)
    builder = package / "_fastload_build.py"
    text = builder.read_text()
    assert "\nPIECE = " in text
    builder.write_text(text.replace("\nPIECE = ", "\nPIECE = 1 or ", 1))  # every module a piece of its own
    first = run(tmp_path)
    second = run(tmp_path)
    assert first[:2] == (False, "42")
    assert second[:2] == (True, "42")
    assert first[2] == second[2]
    data = next((package / "__pycache__").glob("check-path.*.bundle")).read_bytes()
    eager = marshal.loads(data[4 : 4 + int.from_bytes(data[:4], "little")])[4]
    assert len({entry[4:] for entry in eager}) == len(eager) > 1  # as many pieces as modules


def test_a_changed_source_is_never_run_from_a_stale_bundle(tmp_path: Path) -> None:
    package = make_package(tmp_path, PACKAGE)
    run(tmp_path)
    assert run(tmp_path)[:2] == (True, "42")
    (package / "leaf.py").write_text("VALUE = 20\n")  # a new size
    assert run(tmp_path)[:2] == (False, "840")  # imported normally, bundle rebuilt
    assert run(tmp_path)[:2] == (True, "840")


def test_a_touched_source_is_seen_to_the_nanosecond(tmp_path: Path) -> None:
    # Stricter than .pyc files (whole seconds and size): a rewrite of the same size in the same
    # second is seen. What runs then is what the import system runs.
    package = make_package(tmp_path, PACKAGE)
    run(tmp_path)
    leaf = package / "leaf.py"
    before = leaf.stat()
    os.utime(leaf, ns=(before.st_atime_ns, before.st_mtime_ns + 1))
    assert run(tmp_path)[0] is False
    assert run(tmp_path)[0] is True


def test_a_package_its_modules_need_half_run_is_marked_and_imported_normally(tmp_path: Path) -> None:
    # `sub` defines NAME before importing `helper`, which reads it: fine for the import system,
    # not for running bodies in completion order. The bundle must step aside, not fail the run.
    package = make_package(
        tmp_path,
        {
            "main.py": "from pkg.sub import helper\nANSWER = helper.VALUE\ndef answer():\n    return ANSWER\n",
            "sub/__init__.py": "NAME = 7\nfrom pkg.sub import helper\n",
            "sub/helper.py": "from pkg.sub import NAME\nVALUE = NAME * 6\n",
        },
    )
    assert run(tmp_path)[:2] == (False, "42")  # built
    assert run(tmp_path)[:2] == (False, "42")  # tried, failed, rolled back, marked, imported normally
    assert run(tmp_path)[:2] == (False, "42")  # marked: not tried again
    assert next((package / "__pycache__").glob("check-path.*.bundle")).stat().st_size < 1000


def test_an_unwritable_cache_still_runs(tmp_path: Path) -> None:
    package = make_package(tmp_path, PACKAGE)
    (package / "__pycache__").write_text("not a directory")  # neither pyc files nor a bundle can be written
    assert run(tmp_path)[:2] == (False, "42")
    assert run(tmp_path)[:2] == (False, "42")


def test_a_corrupt_bundle_is_rebuilt(tmp_path: Path) -> None:
    package = make_package(tmp_path, PACKAGE)
    run(tmp_path)
    bundle = next((package / "__pycache__").glob("check-path.*.bundle"))
    bundle.write_bytes(b"\x10\x00\x00\x00garbage")
    assert run(tmp_path)[:2] == (False, "42")
    assert run(tmp_path)[:2] == (True, "42")


def test_a_lazy_module_is_read_from_the_bundle_only_when_imported(tmp_path: Path) -> None:
    package = make_package(tmp_path, PACKAGE)
    run(tmp_path)
    assert run_all(tmp_path)[:3] == (True, "42", "_Bundle")  # imported through the bundle's finder
    (package / "later.py").write_text("EXTRA = 0 + 1\n")  # a changed lazy module is imported normally...
    assert run_all(tmp_path)[:3] == (True, "43", "SourceFileLoader")
    assert run_all(tmp_path)[:3] == (False, "43", "SourceFileLoader")  # ...and the bundle is rebuilt
    assert run_all(tmp_path)[:3] == (True, "43", "_Bundle")


def test_a_lazy_module_that_is_never_imported_is_never_read(tmp_path: Path) -> None:
    files = dict(PACKAGE, **{"main.py": "from pkg import leaf\nANSWER = 42\ndef answer():\n    return ANSWER\n"})
    make_package(tmp_path, files)
    run(tmp_path)
    assert run_all(tmp_path)[:3] == (True, "42", "-")


def test_a_bundle_built_for_other_modules_is_rebuilt(tmp_path: Path) -> None:
    make_package(tmp_path, PACKAGE)
    run_all(tmp_path)
    assert run_all(tmp_path)[:3] == (True, "42", "_Bundle")
    assert run_all(tmp_path, lazy="")[:3] == (False, "42", "SourceFileLoader")  # other roots: rebuilt
    assert run_all(tmp_path, lazy="")[:3] == (True, "42", "SourceFileLoader")  # later is not in it now


LEAN_SOURCE = '''"""A module's docstring."""
from __future__ import annotations

LIMIT: int = 3
DECLARED: str


class Box:
    """A class's docstring."""

    __slots__ = ("value",)
    size: int

    def __init__(self, value: int) -> None:
        """A method's docstring."""
        self.value: int = value


def only_a_docstring() -> None:
    """Nothing else."""


def fails(x: Undefined) -> Undefined:
    if x:
        """not a docstring: kept"""
    try:
        pass
    finally:
        """kept too"""
    raise ValueError(x)
'''


def test_the_bundle_compiles_modules_without_docstrings_annotations_or_the_future_import() -> None:
    import ast

    from healthgauge._check.startup._fastload_build import _Stripper

    tree = ast.parse(LEAN_SOURCE, "lean.py")
    flags = _Stripper().strip(tree)
    namespace: dict[str, object] = {"__name__": "lean"}
    exec(compile(tree, "lean.py", "exec", flags=flags, dont_inherit=True), namespace)
    assert namespace.get("__doc__") is None
    assert "annotations" not in namespace, "the future import ran"
    assert "__annotations__" not in namespace
    box = namespace["Box"](4)  # type: ignore[operator]
    assert (box.value, namespace["LIMIT"], type(box).__doc__, type(box).__init__.__doc__) == (4, 3, None, None)
    assert type(box).__init__.__annotations__ == {}
    assert namespace["only_a_docstring"]() is None  # type: ignore[operator]
    fails = namespace["fails"]
    assert fails.__annotations__ == {}
    with pytest.raises(ValueError, match=r"^0$") as raised:
        fails(0)  # type: ignore[operator]
    line = LEAN_SOURCE.splitlines().index("    raise ValueError(x)") + 1
    assert raised.traceback[-1].lineno + 1 == line  # the source's own line numbers
