"""healthgauge: health as a spectrum.

Turns the Prometheus metrics a service already exposes into the answers its orchestrator and load
balancers need (restart or not, send traffic or not, how much), and helps Python services measure
their own overload and shed load before they collapse.

The public API lives in subpackages, each with a small ``__init__``:

- ``healthgauge.exposition``: the Prometheus text / OpenMetrics parser;
- ``healthgauge.promql``: PromQL conditions evaluated over a scrape or a short history;
- ``healthgauge.health``: judgement of condition results, HAProxy agent-check words;
- ``healthgauge.agent``: the agent, to run or embed (its config, state hub and levels);
- ``healthgauge.overload``: overload detection, adaptive limits, load shedding and middleware;
- ``healthgauge.broker``: Spillway-style dispatch of jobs to workers that report their load;
- ``healthgauge.agentcheck``: HAProxy agent-check: the one codec and the one asyncio listener;
- ``healthgauge.http``: HTTP/1.1 for scraping: the pure core, ``http.fetch`` (also ``healthgauge.fetch``);
- ``healthgauge.testing``: a fake clock and page builders, for our tests and yours.

Importing this package imports nothing else: ``healthgauge check`` pays for every module it loads.
That is also why :func:`_lazy` lives here: every package's ``__init__`` uses it, ``check`` included,
and this module is loaded anyway.
"""

import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from types import ModuleType

__version__ = "0.1.0"

__all__ = ["__version__"]


def _lazy(package: str, names: "Mapping[str, str]") -> "Callable[[str], object]":
    """A module ``__getattr__`` for ``package`` that imports some public names on first use.

    ``names`` maps each lazy name to the absolute name of the module that defines it, or to
    ``"module:attribute"`` where the public name differs. The value is kept in the package, so the
    import happens once. In the package: ``__getattr__ = _lazy(__name__, {...})``, with the same
    names imported under ``if TYPE_CHECKING:`` for mypy.
    """

    def __getattr__(name: str) -> object:
        target = names.get(name)
        if target is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module_name, _, attribute = target.partition(":")
        module = __import__(module_name, None, None, ["__name__"])
        value = getattr(module, attribute or name)
        setattr(sys.modules[package], name, value)
        return value

    return __getattr__


def _launch() -> None:
    """The installed ``healthgauge`` command (``scripts/healthgauge`` calls this, with the package
    on ``sys.path``, before ``site`` runs). Python compiles that file at every run (~50 K
    instructions a statement), so what it does is here, compiled once into this package's
    ``.pyc``: ``check`` goes to its quick path without ``site`` (DEVELOPERS.md, "The check path");
    every other command runs the full ``site`` set-up first. It does not return.
    """
    import _signal  # type: ignore[import-not-found]  # `signal` imports enum

    _signal.signal(_signal.SIGINT, _signal.SIG_DFL)  # Ctrl-C ends a command with no traceback
    if sys.argv[1:2] == ["check"]:
        import gc

        gc.disable()  # as the check does (`_quick.run`), before loading its code: the collector would walk it
        site_packages = _site_packages()
        if "site" not in sys.modules and site_packages not in sys.path:  # `make install`'s launcher
            sys.path.append(site_packages)  # names the source only: the dependencies (promql-parser, re2)
        _from_pyc("healthgauge._check")  # without the path's search when its .pyc is fresh
        from healthgauge._check import main as check

        check(sys.argv[2:])  # answers and leaves
    if "site" not in sys.modules:  # the launcher ran it when it could not find the package alone
        import site

        site.main()
    from healthgauge.cli import main

    sys.exit(main(sys.argv[1:]))


def _site_packages() -> str:
    """The environment's site-packages as ``scripts/healthgauge`` names it (``site`` has not run)."""
    major, minor = sys.version_info[:2]
    return f"{sys.executable.rpartition('/')[0]}/../lib/python{major}.{minor}/site-packages"


def _from_pyc(full: str) -> bool:
    """Run ``full`` (a module of a loaded package) from its fresh ``.pyc`` into a new module in
    ``sys.modules``, as the import system would, without its search of the path; False if there is
    none. ``healthgauge check`` loads its own modules this way (``_check.preload``, ``_launch``)."""
    import marshal
    import posix

    parent, _, child = full.rpartition(".")
    base = sys.modules[parent].__path__[0]
    tag = sys.implementation.cache_tag
    for path, cached, is_package in (  # a package first, as the import system looks
        (f"{base}/{child}/__init__.py", f"{base}/{child}/__pycache__/__init__.{tag}.pyc", True),
        (f"{base}/{child}.py", f"{base}/__pycache__/{child}.{tag}.pyc", False),
    ):
        try:
            st = posix.stat(path)
            fd = posix.open(cached, posix.O_RDONLY | posix.O_CLOEXEC)
        except OSError:
            continue
        try:
            data = posix.read(fd, posix.fstat(fd).st_size)
        finally:
            posix.close(fd)
        # The .pyc header (PEP 552): magic, flags 0 (timestamp), source mtime and size, as importlib checks them.
        stamp = (int(st.st_mtime) & 0xFFFFFFFF).to_bytes(4, "little") + (st.st_size & 0xFFFFFFFF).to_bytes(4, "little")
        if data[:4] != _magic() or data[4:16] != b"\0\0\0\0" + stamp:
            return False
        module = _new_module(full, path, cached, is_package)
        try:
            exec(marshal.loads(memoryview(data)[16:]), module.__dict__)
        except BaseException:
            del sys.modules[full]  # as the import system leaves a module whose body failed
            raise
        # As the import system leaves a spec: without it, every later import of the module asks
        # (and fails) for the attribute, ~8 K instructions an `import`/`from ... import` of it.
        module.__spec__._initializing = False  # type: ignore[union-attr]
        setattr(sys.modules[parent], child, module)
        return True
    return False


def _magic() -> bytes:
    return bytes(sys.modules["_frozen_importlib_external"].MAGIC_NUMBER)


def _new_module(name: str, path: str, cached: str, is_package: bool) -> "ModuleType":
    """A module as the import system makes one for a source file: spec, loader, file, cached, path."""
    loader = sys.modules["_frozen_importlib_external"].SourceFileLoader(name, path)
    spec = sys.modules["_frozen_importlib"].ModuleSpec(name, loader, origin=path, is_package=is_package)
    spec.has_location = True
    spec.cached = cached
    module = type(sys)(name)
    if is_package:
        spec.submodule_search_locations = [path.rpartition("/")[0]]
        module.__path__ = spec.submodule_search_locations
    module.__spec__, module.__loader__, module.__file__ = spec, loader, path
    module.__cached__ = cached  # type: ignore[attr-defined]
    module.__package__ = name if is_package else name.rpartition(".")[0]
    sys.modules[name] = module
    return module
