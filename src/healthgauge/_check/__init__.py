"""``healthgauge check``'s wing: the command, its arguments and output, the quick path, and the
start-up machinery (``startup/``) that lets a check cost about what Python's own start costs.

Nothing here is public: the command line is the interface (README, "healthgauge check").

A check starts at ``main`` (``healthgauge._launch`` calls it, after loading this package from its
``.pyc``): from the plan an earlier run of the same command line kept (``read_plan``), else from
``_quick``, which reads the command line and keeps the plan. Both load their modules with
``preload``: each ``.pyc`` read straight in, without the import system's search; a handover loads
the full path's loader the same way.
"""

import sys

from healthgauge import _from_pyc  # the package that holds this one: loaded first

TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import ModuleType


def main(args: "list[str]") -> None:
    """``healthgauge check ARGS``: answered from this command line's plan, else by the quick path,
    else (with what either leaves) by the full path; prints and leaves the process at once."""
    plan = read_plan(args)
    if plan is None:
        preload("_quick")
        from ._quick import run

        handover = run(args)
    else:
        preload("_quick_net")
        from ._quick_net import run_plan

        handover = run_plan(plan)  # type: ignore[arg-type]  # read_plan checked its shape
        preload("startup", "startup._fastload")
    from .startup._fastload import run_check

    run_check(args, handover)


# -- plans: what the quick path derived from a command line, kept for the next run of the same one
#
# A probe runs the same command line every few seconds. The quick path's first run of it keeps what
# it derived (``_plan.store``): where to connect, the request, the compiled conditions, the names to
# read. Later runs read that back here and go straight to ``_quick_net.ask``, without loading
# ``_quick`` (a third of the quick path's code) or reading the command line again. A plan follows
# the rules of ``.pyc`` files and of ``startup._exprcache``: it lives in ``startup/__pycache__``, is
# keyed by the exact arguments, names the sources it was made from with their modification time
# and size, is used only while all are unchanged, and carries a checksum of what it holds; a plan
# that is missing, unreadable, corrupt or stale is ignored (the quick path runs and writes it anew).

PLAN_FORMAT = 1
# The modules a plan is derived with or read by (relative to this package): a change to any of them
# makes every plan stale.
PLAN_SOURCES = (
    "__init__.py",
    "_args.py",
    "_plan.py",
    "_quick.py",
    "_quick_eval.py",
    "_quick_fetch.py",
    "_quick_net.py",
)
SOURCE_DIR = __file__.rpartition("/")[0]
PLAN_DIR = f"{SOURCE_DIR}/startup/__pycache__"  # startup.CACHE_DIR (startup is not loaded to read a plan)
_MAX_PLAN = 1 << 20


def plan_path(args: "list[str]") -> str:
    """The plan file of a command line, named by its arguments' length and ``checksum`` (no hash
    module to import: ~0.1 ms). The file holds the arguments, so two command lines with one name
    never read each other's plans."""
    data = "\0".join(args).encode("utf-8", "surrogateescape")
    name = f"check-plan.{len(data)}-{checksum(data):016x}.{sys.implementation.cache_tag}.marshal"
    return f"{PLAN_DIR}/{name}"


def checksum(data: bytes) -> int:
    """``data`` read as one little-endian number, modulo the Mersenne prime 2**61 - 1: a positional
    checksum that one C operation computes (~1 us for a plan; FNV-1a in Python words took 30 us)."""
    return int.from_bytes(data, "little") % 0x1FFFFFFFFFFFFFFF


def read_plan(args: "list[str]") -> "tuple[object, ...] | None":
    """The plan kept for exactly these arguments, or None (``decode_plan`` says when)."""
    import posix

    try:
        fd = posix.open(plan_path(args), posix.O_RDONLY | posix.O_CLOEXEC)
        try:
            data = posix.read(fd, min(posix.fstat(fd).st_size, _MAX_PLAN))  # a 1 MiB read allocates 1 MiB
        finally:
            posix.close(fd)
    except (OSError, UnicodeError):  # none kept (or arguments no file can be named after)
        return None
    return decode_plan(data, args)


def decode_plan(data: bytes, args: "list[str]") -> "tuple[object, ...] | None":
    """The plan a plan file holds, or None: not a plan, for another format or command line, made
    from another version of a source of ``PLAN_SOURCES``, or failing its checksum."""
    import marshal
    import posix

    try:
        fmt, keyed, stamps, payload, check = marshal.loads(data)
        if fmt != PLAN_FORMAT or keyed != args or len(stamps) != len(PLAN_SOURCES) or checksum(payload) != check:
            return None
        for name, (mtime, size) in zip(PLAN_SOURCES, stamps, strict=True):
            st = posix.stat(f"{SOURCE_DIR}/{name}")
            if st.st_mtime_ns != mtime or st.st_size != size:
                return None
        plan = marshal.loads(payload)
    except Exception:  # truncated, not marshal data, not a plan's shape, a source gone: the quick path runs
        return None
    return plan if type(plan) is tuple and len(plan) == 9 else None


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
