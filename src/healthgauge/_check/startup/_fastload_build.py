"""Build the bundle ``_fastload`` loads: the run that finds it missing or stale pays
a few milliseconds, once per change of the sources, to import the check path normally while noting
what the import system ran, then writes the compiled code of those modules into one file.

Kept apart from ``_fastload`` so that the runs that only read the bundle do not load this code.
"""

import marshal
import sys

from . import ensure_dir, stamp, write_atomically

_SOURCE_LOADER = sys.modules["_frozen_importlib_external"].SourceFileLoader

TYPE_CHECKING = False
if TYPE_CHECKING:
    import ast
    from collections.abc import Sequence
    from importlib.machinery import ModuleSpec, SourceFileLoader
    from types import CodeType, ModuleType

    from . import Entry, Lazy, Stamp

    Done = tuple[str, str, bool, SourceFileLoader]


class _Recorder:
    """A meta-path finder that lets the other finders find each module and notes when a pure-Python
    module's body has run, which gives the order to run them in."""

    def __init__(self) -> None:
        self.done: list[Done] = []

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


# The builder, in a fresh interpreter: this one has already imported some of what the roots import
# (the quick path's modules), and the import system runs a module once, so here they would be
# missed. Arguments: this package, the bundle, the roots and the lazy names (comma-separated), sys.path.
_PROGRAM = """
import sys
package, bundle, roots, lazy, *sys.path[:] = sys.argv[1:]
fastload = __import__(package + "._fastload", fromlist=["FORMAT"])
builder = __import__(package + "._fastload_build", fromlist=["record"])
roots, lazy = tuple(filter(None, roots.split(","))), tuple(filter(None, lazy.split(",")))
builder.record(bundle, (fastload.FORMAT, fastload.magic(), (roots, lazy)), roots, lazy)
"""


def build(bundle: str, roots: "Sequence[str]", lazy: "Sequence[str]") -> None:
    """Write the bundle of ``roots`` (and ``lazy``) to the file ``bundle`` from a fresh interpreter,
    then import ``roots`` here, normally. Where the bundle cannot be written (a read-only install)
    the roots are only imported. A failed build leaves no bundle: the next check tries again."""
    if bundle.endswith(".bundle") and ensure_dir(bundle.rpartition("/")[0]):
        import subprocess

        package = __name__.rpartition(".")[0]
        argv = [sys.executable, "-I", "-S", "-c", _PROGRAM, package, bundle, ",".join(roots), ",".join(lazy)]
        try:
            subprocess.run([*argv, *sys.path], timeout=60, check=False, capture_output=True)
        except (OSError, subprocess.SubprocessError):
            pass
    for root in roots:
        __import__(root)


def record(bundle: str, header: "tuple[object, ...]", roots: "Sequence[str]", lazy: "Sequence[str]") -> None:
    """Import ``roots`` (and then ``lazy``) in this fresh interpreter, noting the modules they run,
    and write the bundle to the file ``bundle``, its header starting with ``header``."""
    recorder = _Recorder()
    sys.meta_path.insert(0, recorder)
    try:
        for root in roots:
            __import__(root)
        eager_done = len(recorder.done)
        for name in lazy:
            try:
                __import__(name)
            except ImportError:  # not installed here: such a check imports it (and fails) normally
                continue
    finally:
        sys.meta_path.remove(recorder)
    eager = _compiled(recorder.done[:eager_done])
    lazy_part = _compiled(recorder.done[eager_done:])
    if eager is None or lazy_part is None:
        return
    blobs, eager_entries, offset = [], [], 0
    for entries, codes in _pieces(*eager):
        blobs.append(marshal.dumps(tuple(codes)))
        eager_entries += [(*entry, offset, len(blobs[-1])) for entry in entries]
        offset += len(blobs[-1])
    lazy_entries: Lazy = {}
    for (name, path, is_package, source), code in zip(*lazy_part, strict=True):
        blobs.append(marshal.dumps(code))
        lazy_entries[name] = (path, is_package, source, offset, len(blobs[-1]))
        offset += len(blobs[-1])
    _write(bundle, header, eager_entries, lazy_entries, b"".join(blobs), usable=True)


# The eager part's pieces: the code of consecutive modules, up to this size marshalled. A piece is
# read and unmarshalled at once, so strings its modules share are read and interned once a piece,
# not once a module: 0.6 M instructions less a check than a module at a time. Under 128 KiB (malloc's
# threshold for a fresh mapping) each piece's read reuses the memory of the last: one read of the
# whole eager part (~220 KB) saved 0.3 M instructions more but touched ~70 more fresh pages.
PIECE = 100 * 1024


def _pieces(
    entries: "list[tuple[str, str, bool, Stamp]]", codes: "list[CodeType]"
) -> "list[tuple[list[tuple[str, str, bool, Stamp]], list[CodeType]]]":
    """``entries`` and ``codes`` cut into consecutive pieces of at most ``PIECE`` bytes (or one module)."""
    pieces: list[tuple[list[tuple[str, str, bool, Stamp]], list[CodeType]]] = []
    size = PIECE
    for entry, code in zip(entries, codes, strict=True):
        length = len(marshal.dumps(code))
        if size + length > PIECE:
            pieces.append(([], []))
            size = 0
        pieces[-1][0].append(entry)
        pieces[-1][1].append(code)
        size += length
    return pieces


def _compiled(done: "list[Done]") -> "tuple[list[tuple[str, str, bool, Stamp]], list[CodeType]] | None":
    entries: list[tuple[str, str, bool, Stamp]] = []
    codes = []
    needs_future = False
    for name, path, is_package, loader in done:
        source = stamp(path)
        code = _lean_code(name, path, loader)
        if source is None or code is None:
            return None
        needs_future = needs_future or (name != "__future__" and "__future__" in code.co_names)
        entries.append((name, path, is_package, source))
        codes.append(code)
    if not needs_future:  # it ran only for the imports `_lean_code` took out: not run at all now
        kept = [i for i, entry in enumerate(entries) if entry[0] != "__future__"]
        entries, codes = [entries[i] for i in kept], [codes[i] for i in kept]
    return entries, codes


def _lean_code(name: str, path: str, loader: "SourceFileLoader") -> "CodeType | None":
    """The module's code as a check needs it: its source compiled without docstrings and annotations,
    and with ``from __future__ import annotations`` as a compiler flag instead of an import.

    A check never reads a docstring or an annotation, yet they are a sixth of the bundle's bytes to
    read and unmarshal, and the import runs the ``__future__`` module (0.47 M instructions a check).
    Line numbers are kept, so tracebacks read the same. A source this cannot rewrite is bundled as
    the import system compiles it.
    """
    import ast

    try:
        source = loader.get_source(name)
        tree = ast.parse(source or "", path)
        flags = _Stripper().strip(tree)
        code: CodeType = compile(tree, path, "exec", flags=flags, dont_inherit=True)
    except (SyntaxError, ValueError, TypeError, OSError, ImportError):
        fallback: CodeType | None = loader.get_code(name)
        return fallback
    return code


class _Stripper:
    """Takes docstrings, annotations and the ``annotations`` future import out of a module's tree."""

    def strip(self, tree: "ast.Module") -> int:
        """Strip ``tree`` in place; the compiler flags its future imports asked for."""
        import __future__

        import ast

        flags = 0
        for stmt in list(tree.body):
            if self._is_annotations_import(stmt):
                tree.body.remove(stmt)
                flags |= __future__.annotations.compiler_flag
        for node in ast.walk(tree):
            docstring = isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
            for field in ("body", "orelse", "finalbody"):
                block = getattr(node, field, None)
                if isinstance(block, list) and (not block or isinstance(block[0], ast.stmt)):
                    setattr(node, field, self._lean_block(block, docstring=docstring and field == "body"))
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                node.returns = None
            elif isinstance(node, ast.arg):
                node.annotation = None
        return flags

    @staticmethod
    def _is_annotations_import(stmt: "ast.stmt") -> bool:
        import ast

        if not isinstance(stmt, ast.ImportFrom) or stmt.module != "__future__" or stmt.level:
            return False
        return [(alias.name, alias.asname) for alias in stmt.names] == [("annotations", None)]

    @staticmethod
    def _lean_block(block: "list[ast.stmt]", *, docstring: bool) -> "list[ast.stmt]":
        """The block without its docstring, with annotated assignments as plain ones (a bare
        declaration dropped), and ``pass`` where that leaves nothing in a block that needs a statement."""
        import ast

        out: list[ast.stmt] = []
        for index, stmt in enumerate(block):
            is_doc = isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant)
            if docstring and index == 0 and is_doc and isinstance(stmt.value.value, str):  # type: ignore[attr-defined]
                continue
            if isinstance(stmt, ast.AnnAssign):
                if stmt.value is None:
                    continue
                stmt = ast.copy_location(ast.Assign(targets=[stmt.target], value=stmt.value), stmt)
            out.append(stmt)
        if block and not out:
            out.append(ast.copy_location(ast.Pass(), block[0]))
        return out


def mark_unusable(bundle: str, header: "tuple[object, ...]", eager: "list[Entry]") -> None:
    """Remember that running the eager part failed for these sources: later runs import normally."""
    _write(bundle, header, eager, {}, b"", usable=False)


def _write(
    bundle: str, header: "tuple[object, ...]", eager: "list[Entry]", lazy: "Lazy", code: bytes, *, usable: bool
) -> None:
    if not bundle.endswith(".bundle"):  # never anything else, whatever a caller passes
        raise ValueError(f"not a bundle's file name: {bundle!r}")
    head = marshal.dumps((*header, usable, eager, lazy))  # type: ignore[arg-type]
    write_atomically(bundle, len(head).to_bytes(4, "little") + head + code)
