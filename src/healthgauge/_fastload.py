"""Load the modules of ``healthgauge check`` from one file, without the import system's per-module work.

Beyond Python's own start, ``check`` costs mostly the import of about thirty modules: for each the
import system searches the path, stats files, reads a ``.pyc`` and builds a spec before the body
runs. This module keeps the compiled code of all of them in one bundle
(``healthgauge/__pycache__/check-path.<tag>.bundle``), in the order their imports complete, and
runs each body straight into a new module in ``sys.modules``, so the ``import`` statements inside
find their targets already there. Packages are created (empty) before their modules run, as the
import system has them exist (half-run) while their modules import. Measured with
``bench/check.py``: a check's CPU time falls from about 2.3 to about 2.0 times Python's own start.

The bundle follows the rules ``.pyc`` files follow, so it is never more trusted nor more stale
than they are: it lives in the package's ``__pycache__``, is written only where that is writable
(atomically, by rename), and is used only while every source it was built from has the size and
modification time it had then; otherwise this run imports normally and rebuilds it. Should running
it fail (a module that needs its package's own names while that package imports it), the modules
it ran are removed, the bundle is marked unusable for these sources and the import runs normally:
a check never fails because of it. Only the launcher uses this, only for ``check``.
"""

import marshal
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from importlib.machinery import ModuleSpec, SourceFileLoader
    from types import CodeType, ModuleType

    Entry = tuple[str, str, bool, tuple[int, int]]

FORMAT = 1
# What `check` imports; the bundle holds the pure-Python modules these import, transitively.
ROOTS = ("healthgauge.cli", "healthgauge._cmd_check")
_PACKAGE_DIR = __file__.rpartition("/")[0]
_SOURCE_LOADER = sys.modules["_frozen_importlib_external"].SourceFileLoader
# Whether the last `load` ran the modules from the bundle (for tests and `bench/check.py`).
loaded = False


def bundle_path() -> str:
    return f"{_PACKAGE_DIR}/__pycache__/check-path.{sys.implementation.cache_tag}.bundle"


def stamp(path: str) -> tuple[int, int] | None:
    """A file's modification time (ns) and size, as ``.pyc`` files stamp their source; None if absent."""
    import posix  # built in, loaded at start-up

    try:
        st = posix.stat(path)
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size


def load() -> bool:
    """Run the check path's modules from the bundle; True when it did.

    False means the caller imports as usual: the bundle was missing or stale (it is rebuilt now,
    while importing), unwritable, or marked unusable because running it failed once for these
    sources (a package whose modules need it to run first, say). A check never fails for it.
    """
    global loaded
    loaded = False
    bundle = _read_bundle()
    if bundle is None:
        build()
        return False
    usable, entries, codes = bundle
    if not usable:
        return False
    try:
        _run(entries, codes())
    except Exception:
        _write_bundle(entries, [], usable=False)
        return False
    loaded = True
    return True


def _read_bundle() -> "tuple[bool, list[Entry], Callable[[], list[CodeType]]] | None":
    """The bundle's header and a way to its code, or None when it is missing, unreadable or stale."""
    try:
        with open(bundle_path(), "rb") as file:
            data = file.read()
        header = int.from_bytes(data[:4], "little")
        fmt, magic, usable, entries = marshal.loads(data[4 : 4 + header])
        if fmt != FORMAT or magic != _magic() or any(stamp(path) != was for _, path, _, was in entries):
            return None
    except Exception:  # missing, truncated, another format: the same as stale
        return None
    return usable, entries, lambda: marshal.loads(memoryview(data)[4 + header :])


def _run(entries: "list[Entry]", codes: "list[CodeType]") -> None:
    """Each module's body in the order their imports completed; packages exist (empty) from the
    start, as the import system has them exist (half-run) while their modules import."""
    modules = sys.modules
    added: list[str] = []
    try:
        for name, path, is_package, _ in entries:
            if is_package and name not in modules:
                _new_module(name, path, is_package, added)
        for (name, path, is_package, _), code in zip(entries, codes, strict=True):
            if name in modules and name not in added:
                continue  # imported before the bundle ran
            module = modules[name] if is_package else _new_module(name, path, is_package, added)
            exec(code, module.__dict__)  # the module's own compiled body, as the import system runs it
    except BaseException:
        for name in added:
            modules.pop(name, None)
        raise


def _new_module(name: str, path: str, is_package: bool, added: list[str]) -> "ModuleType":
    bootstrap = sys.modules["_frozen_importlib"]
    loader = _SOURCE_LOADER(name, path)
    spec = bootstrap.ModuleSpec(name, loader, origin=path, is_package=is_package)
    spec.has_location = True
    module = type(sys)(name)
    parent, _, child = name.rpartition(".")
    if is_package:
        spec.submodule_search_locations = [path.rpartition("/")[0]]
        module.__path__ = spec.submodule_search_locations
    module.__spec__, module.__loader__, module.__file__ = spec, loader, path
    module.__package__ = name if is_package else parent
    sys.modules[name] = module
    added.append(name)
    if parent in sys.modules:
        setattr(sys.modules[parent], child, module)
    return module


def _magic() -> bytes:
    return bytes(sys.modules["_frozen_importlib_external"].MAGIC_NUMBER)


class _Recorder:
    """A meta-path finder that lets the other finders find each module and notes when a pure-Python
    module's body has run, which gives the order to run them in."""

    def __init__(self) -> None:
        self.done: list[tuple[str, str, bool, SourceFileLoader]] = []

    def find_spec(
        self, name: str, path: "Sequence[str] | None" = None, target: "ModuleType | None" = None
    ) -> "ModuleSpec | None":
        spec = None
        for finder in sys.meta_path:
            if finder is not self:
                spec = finder.find_spec(name, path, target)
                if spec is not None:
                    break
        loader = spec.loader if spec is not None else None
        if spec is None or spec.origin is None or not isinstance(loader, _SOURCE_LOADER):
            return spec  # built-in, frozen or an extension module: imported normally every time
        note = (name, spec.origin, spec.submodule_search_locations is not None, loader)
        run_body, done = loader.exec_module, self.done

        def exec_module(module: "ModuleType") -> None:
            run_body(module)
            done.append(note)

        loader.exec_module = exec_module
        return spec


def build() -> None:
    """Import the check path normally, noting the order modules complete, and write the bundle.

    The run that builds pays a few milliseconds, once per change of the sources. Where the bundle
    cannot be written (a read-only install) the modules are only imported.
    """
    import posix

    cache = bundle_path().rpartition("/")[0]
    if not posix.access(cache, posix.W_OK) and not (posix.access(_PACKAGE_DIR, posix.W_OK) and _mkdir(cache)):
        for root in ROOTS:
            __import__(root)
        return
    recorder = _Recorder()
    sys.meta_path.insert(0, recorder)
    try:
        for root in ROOTS:
            __import__(root)
    finally:
        sys.meta_path.remove(recorder)
    entries: list[Entry] = []
    codes = []
    for name, path, is_package, loader in recorder.done:
        source = stamp(path)
        code = loader.get_code(name)
        if source is None or code is None:
            return
        entries.append((name, path, is_package, source))
        codes.append(code)
    _write_bundle(entries, codes, usable=True)


def _write_bundle(entries: "list[Entry]", codes: "list[CodeType]", *, usable: bool) -> None:
    header = marshal.dumps((FORMAT, _magic(), usable, entries))
    write_atomically(bundle_path(), len(header).to_bytes(4, "little") + header + marshal.dumps(codes))


def _mkdir(path: str) -> bool:
    import posix

    try:
        posix.mkdir(path)
    except OSError:
        return False
    return True


def write_atomically(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` whole or not at all (a temporary file renamed); errors are ignored."""
    import posix

    temporary = f"{path}.{posix.getpid()}.tmp"
    try:
        with open(temporary, "wb") as file:
            file.write(data)
        posix.rename(temporary, path)
    except OSError:
        try:
            posix.unlink(temporary)
        except OSError:
            pass
