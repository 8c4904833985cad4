"""``healthgauge._check.preload``: a sibling module run from its fresh ``.pyc``, never from a stale one.

Each case runs in a fresh interpreter (``python -I -S``) over a copy of the package's ``__init__``
in a temporary directory, so sources can be changed without disturbing the installed package.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import healthgauge._check

INIT = Path(healthgauge._check.__file__)
SRC = str(INIT.parents[2])  # where `healthgauge` is, whose _from_pyc the package copy imports

RUN = """
import sys
sys.path[:0] = [sys.argv[1], sys.argv[2]]
import pkg  # loads _socket, as the package does
fresh = []
for name in sys.argv[3:]:  # each from its .pyc when fresh, else imported as preload does
    fresh.append(pkg._from_pyc(name))
    pkg.preload(name.removeprefix("pkg."))
mods = {name: sys.modules[name] for name in sys.argv[3:]}
print(fresh, [m.answer for m in mods.values()], [type(m.__loader__).__name__ for m in mods.values()],
      [m.__spec__.cached == m.__cached__ for m in mods.values()])
"""


def make_package(root: Path) -> Path:
    package = root / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text(INIT.read_text())
    (package / "mod.py").write_text("answer = 1\n")
    (package / "sub" / "__init__.py").write_text("answer = 'sub'\n")
    (package / "sub" / "leaf.py").write_text("from . import answer as parent\nanswer = parent + '.leaf'\n")
    return package


def run(root: Path, *names: str) -> str:
    out = subprocess.run(
        [sys.executable, "-I", "-S", "-c", RUN, str(root), SRC, *names], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_fresh_pyc_files_are_run_straight_and_stale_ones_never(tmp_path: Path) -> None:
    package = make_package(tmp_path)
    subprocess.run(  # the first run imports as usual, which writes the .pyc files
        [
            sys.executable,
            "-I",
            "-S",
            "-c",
            f"import sys; sys.path[:0] = [{str(tmp_path)!r}, {SRC!r}]; import pkg.mod, pkg.sub.leaf",
        ],
        check=True,
        timeout=60,
    )
    names = ("pkg.mod", "pkg.sub", "pkg.sub.leaf")
    assert run(tmp_path, *names) == (
        "[True, True, True] [1, 'sub', 'sub.leaf'] ['SourceFileLoader', 'SourceFileLoader', 'SourceFileLoader']"
        " [True, True, True]"
    )
    (package / "mod.py").write_text("answer = 22\n")  # another size: the .pyc is stale
    stat = (package / "sub" / "leaf.py").stat()
    os.utime(package / "sub" / "leaf.py", ns=(stat.st_atime_ns, stat.st_mtime_ns + 2_000_000_000))
    assert run(tmp_path, *names).startswith("[False, True, False] [22, 'sub', 'sub.leaf']")


def test_preload_reads_what_it_can_and_imports_the_rest(tmp_path: Path) -> None:
    make_package(tmp_path)
    program = (
        f"import sys; sys.path[:0] = [{str(tmp_path)!r}, {SRC!r}]; import pkg; pkg.preload('mod', 'sub', 'sub.leaf'); "
        "print(sys.modules['pkg.sub.leaf'].answer, pkg.sub.leaf.answer, pkg.mod.answer)"
    )
    for _ in range(2):  # without .pyc files (imported, which writes them), then from them
        out = subprocess.run([sys.executable, "-I", "-S", "-c", program], capture_output=True, text=True, timeout=60)
        assert (out.returncode, out.stdout) == (0, "sub.leaf sub.leaf 1\n"), out.stderr


def test_a_module_whose_body_fails_is_not_left_loaded(tmp_path: Path) -> None:
    package = make_package(tmp_path)
    (package / "mod.py").write_text("answer = 1\nraise ValueError('in the body')\n")
    program = (
        f"import sys; sys.path[:0] = [{str(tmp_path)!r}, {SRC!r}]; import pkg\n"
        "for _ in range(2):\n"
        "    try:\n"
        "        pkg.preload('mod')\n"
        "    except ValueError as exc:\n"
        "        print(exc, 'pkg.mod' in sys.modules)\n"
    )
    for _ in range(2):  # imported (the .pyc written before the body runs), then from the .pyc
        out = subprocess.run([sys.executable, "-I", "-S", "-c", program], capture_output=True, text=True, timeout=60)
        assert (out.returncode, out.stdout) == (0, "in the body False\nin the body False\n"), out.stderr


def test_make_install_writes_the_pyc_files_preload_reads(tmp_path: Path) -> None:
    # CI's environment sets PYTHONDONTWRITEBYTECODE=1, and a reproducible build SOURCE_DATE_EPOCH
    # (which makes compileall write hash-based .pyc files preload does not read): the Makefile's
    # own command, run under both, must leave timestamp .pyc files that preload runs straight.
    makefile = (Path(__file__).parents[2] / "Makefile").read_text()
    line = next(line for line in makefile.splitlines() if line.startswith("compile_pyc = "))
    command = line.removeprefix("compile_pyc = ").replace("$(BIN)/python", sys.executable).split()
    assert command[-1] == "src/healthgauge"
    make_package(tmp_path)
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "SOURCE_DATE_EPOCH": "1700000000"}
    subprocess.run([*command[:-1], str(tmp_path / "pkg")], env=env, check=True, timeout=60)
    assert run(tmp_path, "pkg.mod", "pkg.sub", "pkg.sub.leaf").startswith("[True, True, True] [1, 'sub', 'sub.leaf']")


# An extension as `load_extension` leaves it, and as `import` does, each in a fresh `python -I -S`.
EXTENSION = """
import sys
name = sys.argv[2]
sys.path[:0] = sys.argv[3:]
if sys.argv[1] == "direct":
    import healthgauge._check  # loads _socket first thing (load_extension), as a check does
    module = healthgauge._check.load_extension(name)
else:
    module = __import__(name)
m = sys.modules[name]
s = m.__spec__
print(repr((m.__name__, m.__file__, m.__package__, type(m.__loader__).__name__, m.__loader__.path, s.name,
            s.origin, s.has_location, s.cached, s.parent, s.loader is m.__loader__, m is module, sorted(vars(m)))))
print(any(entry.endswith("/lib-dynload") for entry in sys.path_importer_cache))  # searched?
"""


@pytest.mark.parametrize("name", ["_socket", "mmap", "zlib"])  # every check's, a big body's, a gzip body's
def test_load_extension_leaves_the_module_the_import_would(name: str) -> None:
    def loaded(how: str, *path: str) -> tuple[str, str]:
        out = subprocess.run(
            [sys.executable, "-I", "-S", "-c", EXTENSION, how, name, SRC, *path],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert out.returncode == 0, out.stderr
        module, searched = out.stdout.splitlines()
        return module, searched

    if name in sys.builtin_module_names:
        pytest.skip(f"{name} is built into this interpreter: load_extension imports it")
    imported = loaded("import")
    assert imported[1] == "True"
    assert loaded("direct") == (imported[0], "False")  # the same module, without the path's search
    # A lib-dynload directory without it, first on the path: imported from the path as usual.
    assert loaded("direct", "/nonexistent/lib-dynload") == imported
