"""``healthgauge check``'s wing: the command, its arguments and output, the quick path, and the
start-up machinery (``startup/``) that lets a check cost about what Python's own start costs.

Nothing here is public: the command line is the interface (README, "healthgauge check").

Every check loads ``_quick`` first (the launcher imports it), so this package loads it as it is
imported, with ``preload``: its ``.pyc`` read straight in, without the import system's search. The
quick path preloads its two other modules, and a handover the full path's loader, the same way.
"""

import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import ModuleType


def preload(*names: str) -> None:
    """Load these modules of this package (``"_quick_fetch"``, ``"startup._fastload"``, in the order
    given: a package before its modules) from their cached ``.pyc`` files, when those are fresh.

    This is what the import system does for them, without its search of the path and its checks
    (~0.2 M instructions a module on Python 3.11, measured: a check loads up to five this way).
    ``import`` statements then find them in ``sys.modules``. A module already loaded is left as it
    is; one without a fresh timestamp ``.pyc`` (missing, stale, hash-based, elsewhere) is imported
    as usual, which writes it for the next run. Only this package's own source modules are meant.
    """
    for name in names:
        full = f"{__name__}.{name}"
        if full not in sys.modules and not _from_pyc(full):
            __import__(full)


def _from_pyc(full: str) -> bool:
    """Run ``full`` from its fresh ``.pyc`` into a new module in ``sys.modules``; False if there is none."""
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


# -- performance data: the one writer, here so that both paths print with it and neither quick
# module imports the other's entry (``_quick``) back


def perfdata(values: "list[list[tuple[dict[str, str], float]]]") -> str:
    """Nagios performance data for each condition's observed values (Nagios plugin guidelines,
    "Performance data": ``'label'=value[UOM];[warn];[crit];[min];[max]``), after `` | ``.

    A condition's values are labelled ``c1``, ``c2``... in the order of the conditions, with the
    series' labels when there are any (``'c1{job:"a"}'=3``: ``=`` may not appear in a label);
    NaN and ±Inf are ``U``, Nagios's "undetermined". No thresholds, unit or bounds: a PromQL
    condition is not one range. Empty when no condition observed a value.
    """
    items = []
    for number, pairs in enumerate(values, 1):
        for labels, value in pairs:
            inner = ",".join(f'{k}:"{v}"' for k, v in sorted(labels.items()) if k != "__name__")
            label = f"c{number}{{{inner}}}" if inner else f"c{number}"
            if not label.replace("_", "").replace(":", "").isalnum():
                label = "'" + label.replace("'", "''").replace("=", ":").replace("|", "/").replace("\n", " ") + "'"
            items.append(f"{label}={_perf_number(value)}")
    return " | " + " ".join(items) if items else ""


def _perf_number(v: float) -> str:
    """Digits, a point and a sign only (no exponent: Nagios's parsers read ``[-0-9.]``)."""
    if v != v or v in (_INF, -_INF):
        return "U"
    if v == int(v):
        return str(int(v))
    text = repr(v)
    if "e" not in text:
        return text
    return f"{v:.20f}".rstrip("0").rstrip(".") if abs(v) < 1 else f"{v:.1f}"


_INF = float("inf")


preload("_quick")
