"""Load the modules of ``healthgauge check`` from one file, without the import system's per-module work.

Beyond Python's own start, ``check`` costs mostly the import of its modules: for each the import
system searches the path, stats files, reads a ``.pyc`` and builds a spec before the body runs
(about 0.7 M instructions a module on Python 3.11, as much as a small module's body). This module
keeps their compiled code in one bundle (``__pycache__/check-path.<tag>.bundle`` beside this file,
written by ``_fastload_build``) in two parts:

- the modules every check imports (from ``ROOTS``), in the order their imports completed, read in
  a few pieces of under 100 KB (each the marshalled tuple of consecutive modules' code: strings
  they share are read and interned once a piece, ``_fastload_build.PIECE``): each body runs
  straight into a new module in ``sys.modules``, so the ``import`` statements inside find their
  targets already there. Packages are created (empty) before their modules run, as the import
  system has them exist (half-run) while their modules import.
- the modules only some checks import (from ``LAZY``: one function's module, the full exposition
  grammar, the PromQL compiler, ``re``): a finder at the head of ``sys.meta_path`` serves each from
  the bundle when, and only if, an ``import`` asks for it. Their code is not even read otherwise.

The bundle follows the rules ``.pyc`` files follow, so it is never more trusted nor more stale
than they are: it lives in the package's ``__pycache__``, is written only where that is writable
(atomically, by rename), and a module runs from it only while its source has the size and
modification time it had when the bundle was built (every eager one at load, a lazy one when it is
imported); otherwise this run imports normally and the next one rebuilds the bundle. Should running
the eager part fail (a module that needs its package's own names while that package imports it),
the modules it ran are removed, the bundle is marked unusable for these sources and the import
runs normally: a check never fails because of it. Only the launcher uses this, only for ``check``.
"""

import marshal
import sys

from . import CACHE_DIR, magic, stamp  # a copy of these files serves its own package

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence
    from importlib.machinery import ModuleSpec
    from types import CodeType, ModuleType

    from healthgauge._check._quick_fetch import Handover

    from . import Entry, Lazy


FORMAT = 6
# What every check imports; the eager part holds the pure-Python modules these import, transitively.
ROOTS = ("healthgauge._check._command",)
# What only some checks import, served lazily (with what they import that ROOTS do not).
LAZY = (
    "healthgauge.promql._fn_time",
    "healthgauge.promql._fn_vector",
    "healthgauge.promql._fn_math",
    "healthgauge.promql._fn_labels",
    "healthgauge.promql._fn_histogram",
    "healthgauge.promql._fn_trig",
    "healthgauge.promql._fn_date",
    "healthgauge.promql._range",
    "healthgauge.promql._subquery",
    "healthgauge.promql._aggregate",
    "healthgauge.promql._operators",
    "healthgauge.promql._result",
    "healthgauge.promql._compile",
    "healthgauge._check.startup._exprcache_write",
    "healthgauge.promql._regex",
    "healthgauge.exposition._slow",
    "healthgauge._check._json",
    "re",
)
_BOOTSTRAP = sys.modules["_frozen_importlib"]
_SOURCE_LOADER = sys.modules["_frozen_importlib_external"].SourceFileLoader
# Whether the last `load` ran the modules from the bundle (for tests and `bench/check.py`).
loaded = False


def run_check(args: "list[str]", handover: "Handover | None" = None) -> None:
    """``healthgauge check ARGS`` as the launcher runs it: the check path from the bundle when it is
    fresh, then, once the result is printed, leave without tearing the interpreter down (its ~30
    modules and objects: ~2 ms a check, measured side by side).

    ``handover`` is what the quick path leaves when it cannot answer after fetching: the deadline,
    the connection and the bytes received, so the full path reads the same response (never a
    second request, never a second timeout).

    The cyclic garbage collector is off: a check ends in milliseconds, and the collector would only
    walk the objects the check path's modules are made of (~0.7 M instructions, measured).
    """
    import gc

    gc.disable()
    load()
    from healthgauge._check._command import main

    code = main(args, handover)
    try:
        sys.stdout.flush()
    except OSError:
        pass
    import posix

    posix._exit(code)


def bundle_path() -> str:
    return f"{CACHE_DIR}/check-path.{sys.implementation.cache_tag}.bundle"


def _header() -> "tuple[object, ...]":
    """What a bundle's header starts with: it is read only by this format, interpreter and roots."""
    return FORMAT, magic(), (ROOTS, LAZY)


def load() -> bool:
    """Run the check path's modules from the bundle and serve the lazy ones from it; True when it did.

    False means the caller imports as usual: the bundle was missing or stale (it is rebuilt now,
    while importing), unwritable, or marked unusable because running it failed once for these
    sources (a package whose modules need it to run first, say). A check never fails for it.
    """
    global loaded
    loaded = False
    bundle = _Bundle.open(bundle_path())
    if bundle is None:
        from . import _fastload_build

        _fastload_build.build(bundle_path(), ROOTS, LAZY)
        return False
    if not bundle.usable:
        return False
    try:
        _run(bundle)
    except Exception:
        from . import _fastload_build

        _fastload_build.mark_unusable(bundle_path(), _header(), bundle.eager)
        return False
    sys.meta_path[:] = [bundle, *(finder for finder in sys.meta_path if not isinstance(finder, _Bundle))]
    loaded = True
    return True


class _Bundle:
    """An open bundle: the eager part's entries, and a finder and loader for the lazy part.

    The eager part is read a piece at a time, each lazy module on its own when imported; the file
    stays open, so a bundle replaced on disk by another probe's rebuild never mixes with
    this one: code is read at the offsets of the file this run opened.
    """

    def __init__(self, fd: int, usable: bool, eager: "list[Entry]", lazy: "Lazy", base: int) -> None:
        self.fd = fd
        self.usable = usable
        self.eager = eager
        self.lazy = lazy
        self.base = base

    @classmethod
    def open(cls, path: str) -> "_Bundle | None":
        """The bundle's header, or None when it is missing, unreadable or stale."""
        import posix

        try:
            fd = posix.open(path, posix.O_RDONLY | posix.O_CLOEXEC)
        except OSError:
            return None
        try:  # the header's size, the header, then each module's code
            header_size = int.from_bytes(posix.pread(fd, 4, 0), "little")
            fmt, bundle_magic, roots, usable, eager, lazy = marshal.loads(posix.pread(fd, header_size, 4))
            if (fmt, bundle_magic, roots) != _header():
                raise ValueError("another format, interpreter or set of modules")
            if any(stamp(e[1]) != e[3] for e in eager):
                raise ValueError("stale")
        except Exception:  # truncated, another format, stale: the same as missing
            posix.close(fd)
            return None
        return cls(fd, usable, eager, lazy, 4 + header_size)

    def code(self, offset: int, size: int) -> "CodeType":
        import posix

        code: CodeType = marshal.loads(posix.pread(self.fd, size, self.base + offset))
        return code

    def eager_code(self) -> "Iterator[CodeType]":
        """The eager modules' code, in their order, read a piece at a time: a piece is a tuple of
        the code of consecutive modules, where each of their entries points."""
        piece: tuple[int, int] | None = None
        codes: Iterator[CodeType] = iter(())
        for entry in self.eager:
            if entry[4:] != piece:
                piece = entry[4:]
                codes = iter(self.code(*piece))  # type: ignore[call-overload]
            yield next(codes)

    # The finder and loader of the lazy part (importlib's protocol: find_spec, create_module, exec_module).

    def find_spec(
        self, name: str, path: "Sequence[str] | None" = None, target: "ModuleType | None" = None
    ) -> "ModuleSpec | None":
        entry = self.lazy.get(name)
        if entry is None:
            return None
        source, is_package, was, _, _ = entry
        if stamp(source) != was:  # changed since the build: import it normally, rebuild next run
            import posix

            try:
                posix.unlink(bundle_path())
            except OSError:
                pass
            return None
        spec: ModuleSpec = _BOOTSTRAP.ModuleSpec(name, self, origin=source, is_package=is_package)
        spec.has_location = True
        if is_package:
            spec.submodule_search_locations = [source.rpartition("/")[0]]
        return spec

    def create_module(self, spec: "ModuleSpec") -> None:
        return None  # the default module

    def exec_module(self, module: "ModuleType") -> None:
        _, _, _, offset, size = self.lazy[module.__name__]
        exec(self.code(offset, size), module.__dict__)

    def get_filename(self, name: str) -> str:
        return self.lazy[name][0]

    def get_source(self, name: str) -> "str | None":
        """The source, for tracebacks and ``inspect`` (as the source loader gives it)."""
        source: str | None = _SOURCE_LOADER(name, self.lazy[name][0]).get_source(name)
        return source


def _run(bundle: _Bundle) -> None:
    """Each eager module's body in the order their imports completed; packages exist (empty) from
    the start, as the import system has them exist (half-run) while their modules import."""
    modules = sys.modules
    added: list[str] = []
    try:
        for name, path, is_package, _, _, _ in bundle.eager:
            if is_package and name not in modules:
                _new_module(name, path, is_package, added)
        for (name, path, is_package, _, _, _), code in zip(bundle.eager, bundle.eager_code(), strict=True):
            if name in modules and name not in added:
                continue  # imported before the bundle ran
            module = modules[name] if is_package else _new_module(name, path, is_package, added)
            exec(code, module.__dict__)  # its own compiled body, as imports run it
            # Done, as the import system marks a spec once the body ran; without the mark every
            # `import` of the module asks for it and fails (~8 K instructions an import statement).
            module.__spec__._initializing = False  # type: ignore[union-attr]
    except BaseException:
        for name in added:
            modules.pop(name, None)
        raise


def _new_module(name: str, path: str, is_package: bool, added: list[str]) -> "ModuleType":
    loader = _SOURCE_LOADER(name, path)
    spec = _BOOTSTRAP.ModuleSpec(name, loader, origin=path, is_package=is_package)
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
