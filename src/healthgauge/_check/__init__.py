"""``healthgauge check``'s wing: the command, its arguments and output, the quick path, and the
start-up machinery (``startup/``) that lets a check cost about what Python's own start costs.

Nothing here is public: the command line is the interface (README, "healthgauge check").

Every check loads ``_quick`` first (``healthgauge._launch`` imports it, after loading this package
from its ``.pyc``), so this package loads it as it is imported, with ``preload``: its ``.pyc`` read
straight in, without the import system's search. The quick path preloads its two other modules,
and a handover the full path's loader, the same way.
"""

import sys

from healthgauge import _from_pyc  # the package that holds this one: loaded first

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


def load_extension(name: str) -> "ModuleType":
    """The extension module ``name``, loaded straight from the interpreter's ``lib-dynload``
    directory, as the import system would find it there: ``_socket`` (every check's first need:
    ``_quick`` imports it), ``mmap`` (a big body's buffer) and ``zlib`` (a gzip body's).

    The path's search asks the finder of every directory before it in turn (the source's, the
    standard library's zip file and directory), then makes one for ``lib-dynload`` (trying it as a
    zip file first) and lists its ~80 entries, for this one extension. For ``_socket``: 0.3 M
    instructions and five system calls, where loading it is 0.9 M; for ``mmap``, half of the 0.3 ms
    an ``import mmap`` took in a check of the 10k-series page (-0.27 M instructions, ``bench/check.py``).
    Built into the interpreter, already loaded, or not a file there under the first extension suffix
    the search tries: imported as usual.
    """
    module = sys.modules.get(name)
    if module is not None:
        return module
    if name not in sys.builtin_module_names:
        import _imp

        for entry in sys.path:
            if entry.endswith("/lib-dynload"):
                path = f"{entry}/{name}{_imp.extension_suffixes()[0]}"
                bootstrap = sys.modules["_frozen_importlib"]
                loader = sys.modules["_frozen_importlib_external"].ExtensionFileLoader(name, path)
                spec = bootstrap.ModuleSpec(name, loader, origin=path)
                spec.has_location = True  # as a finder's spec_from_file_location leaves it
                try:
                    return bootstrap._load(spec)  # type: ignore[no-any-return]  # what `import` does with a spec
                except ImportError:  # not there (another layout): the import below searches
                    break
    return __import__(name)


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


load_extension("_socket")
preload("_quick")
