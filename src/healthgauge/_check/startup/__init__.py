"""What makes ``healthgauge check`` start fast: the one-file bundle of the full path's modules
(``_fastload``, written by ``_fastload_build``) and the compiled-conditions cache (``_exprcache``,
written by ``_exprcache_write``), and here what they share: where their files live, how a source is
stamped, how a file is written, and the format of a cached condition tree. Each module imports only
these, never a sibling that imports it back; they are here, in the package every one of them loads
first, so that sharing them costs no import of its own (~0.7 M instructions a module, measured).

The files live in this folder's ``__pycache__``, beside the ``.pyc`` files, and follow their rules:
written only where that is writable, atomically (a temporary file renamed), and trusted only while
every source they were made from has the modification time and size it had (its "stamp").
"""

import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    Stamp = tuple[int, int]
    # A bundle's module: name, source path, is a package, source stamp, where its code is (offset, size)
    Entry = tuple[str, str, bool, Stamp, int, int]
    Lazy = dict[str, tuple[str, bool, Stamp, int, int]]  # the same, by name

CACHE_DIR = __file__.rpartition("/")[0] + "/__pycache__"

# The compiled-conditions cache's tree format (``_exprcache`` reads it, ``_exprcache_write`` writes it).
TREE_FORMAT = 2
# Methods of str a compiled selector may hold as its predicate (`!=` is `value.__ne__`).
STR_METHODS = frozenset(("__ne__", "__eq__"))
# Only classes of this package are rebuilt from a cached tree (promql/_nodes.py: "The node contract").
PROMQL = "healthgauge.promql."


def stamp(path: str) -> "Stamp | None":
    """A file's modification time (ns) and size, as ``.pyc`` files stamp their source; None if absent."""
    import posix  # built in, loaded at start-up

    try:
        st = posix.stat(path)
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size


def magic() -> bytes:
    """The interpreter's bytecode magic: a bundle from another interpreter is not read."""
    return bytes(sys.modules["_frozen_importlib_external"].MAGIC_NUMBER)


def slots(kind: type) -> "list[str]":
    """Every ``__slots__`` name of a class and its bases: what a node holds."""
    return [name for klass in kind.__mro__ for name in getattr(klass, "__slots__", ())]


def ensure_dir(path: str) -> bool:
    """True when ``path`` is a writable directory (made here if its parent is writable)."""
    import posix

    if posix.access(path, posix.W_OK):
        return True
    try:
        posix.mkdir(path)
    except OSError:
        return False
    return True


# Files kept at most of each kind (one per distinct command line or list of conditions, ~1 KB each).
# A host's probes use a few; commands generated with ever-new texts must not fill the disk: past
# the cap the oldest half goes.
MAX_ENTRIES = 256


def make_room(cache: str, prefix: str) -> None:
    """Remove the oldest half of the files named ``prefix...`` in ``cache`` once there are ``MAX_ENTRIES``."""
    import posix

    try:
        names = [name for name in posix.listdir(cache) if name.startswith(prefix)]
        if len(names) < MAX_ENTRIES:
            return
        paths = sorted((f"{cache}/{name}" for name in names), key=lambda p: posix.stat(p).st_mtime_ns)
        for old in paths[: len(paths) // 2 + 1]:
            posix.unlink(old)
    except OSError:
        pass  # another probe removed some first, or the cache is not ours to tidy


def write_atomically(path: str, data: bytes, *, private: bool = False) -> None:
    """Write ``data`` to ``path`` whole or not at all (a temporary file renamed); errors are ignored.

    Only ever a file of ``CACHE_DIR``: anything else is a caller's bug, refused before it can
    overwrite a source file. ``private``: readable by its owner only (a plan holds the whole
    command line, whose URL may carry a token in its query), where other caches are made as the
    ``.pyc`` files beside them (the umask's mode), so every user of an installation can read them.
    """
    import posix

    if path.rpartition("/")[0] != CACHE_DIR:
        raise ValueError(f"not a file of {CACHE_DIR}: {path!r}")

    temporary = f"{path}.{posix.getpid()}.tmp"
    flags = posix.O_WRONLY | posix.O_CREAT | posix.O_EXCL | posix.O_CLOEXEC
    try:
        fd = posix.open(temporary, flags, 0o600 if private else 0o666)
        try:
            view = memoryview(data)
            while view:
                view = view[posix.write(fd, view) :]
        finally:
            posix.close(fd)
        posix.rename(temporary, path)
    except OSError:
        try:
            posix.unlink(temporary)
        except OSError:
            pass
